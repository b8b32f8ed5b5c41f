//! Input devices made with the kernel's uinput (<linux/uinput.h>), for the
//! VM cases: a pen tablet and a keyboard. libinput sees real evdev devices
//! and Quay gets real events from them. Needs `/dev/uinput` (the `uinput`
//! module).

#![allow(clippy::disallowed_macros)] // progress lines on stderr, for the VM case's log

use std::{fs::File, io::Write, os::fd::AsRawFd, path::Path, thread::sleep, time::Duration};

const EV_SYN: u16 = 0;
const EV_KEY: u16 = 1;
const EV_ABS: u16 = 3;
const ABS_X: u16 = 0;
const ABS_Y: u16 = 1;
const ABS_PRESSURE: u16 = 0x18;
const BTN_TOOL_PEN: u16 = 0x140;
const BTN_TOUCH: u16 = 0x14a;
const BTN_STYLUS: u16 = 0x14b;
const BTN_LEFT: u16 = 0x110;
const BTN_TOOL_FINGER: u16 = 0x145;
const BTN_TOOL_DOUBLETAP: u16 = 0x14d;
const BTN_TOOL_TRIPLETAP: u16 = 0x14e;
const ABS_MT_SLOT: u16 = 0x2f;
const ABS_MT_POSITION_X: u16 = 0x35;
const ABS_MT_POSITION_Y: u16 = 0x36;
const ABS_MT_TRACKING_ID: u16 = 0x39;
const INPUT_PROP_POINTER: u32 = 0;
const INPUT_PROP_DIRECT: u32 = 1;
/// The range of the pen's x and y axes.
pub const AXIS_MAX: i32 = 32767;
const PRESSURE_MAX: i32 = 1023;

// _IO / _IOW('U', nr, size) from <linux/uinput.h>.
const fn iow(nr: u64, size: u64) -> u64 {
    (1 << 30) | (size << 16) | (0x55 << 8) | nr
}
const UI_DEV_CREATE: u64 = 0x5501;
const UI_DEV_DESTROY: u64 = 0x5502;
const UI_DEV_SETUP: u64 = iow(3, std::mem::size_of::<UinputSetup>() as u64);
const UI_ABS_SETUP: u64 = iow(4, std::mem::size_of::<UinputAbsSetup>() as u64);
const UI_SET_EVBIT: u64 = iow(100, 4);
const UI_SET_KEYBIT: u64 = iow(101, 4);
const UI_SET_ABSBIT: u64 = iow(103, 4);
const UI_SET_PROPBIT: u64 = iow(110, 4);

#[repr(C)]
struct UinputSetup {
    bustype: u16,
    vendor: u16,
    product: u16,
    version: u16,
    name: [u8; 80],
    ff_effects_max: u32,
}

#[repr(C)]
struct UinputAbsSetup {
    code: u16,
    _pad: u16,
    value: i32,
    minimum: i32,
    maximum: i32,
    fuzz: i32,
    flat: i32,
    resolution: i32,
}

/// The devices' names, as libinput and `/proc/bus/input/devices` show them.
pub const PEN_NAME: &str = "Quay Test Pen";
pub const KEYBOARD_NAME: &str = "Quay Test Keyboard";
pub const TOUCHPAD_NAME: &str = "Quay Test Touchpad";
/// The touchpad's axes: 100 x 60 mm at 40 units/mm.
const PAD_W: i32 = 4000;
const PAD_H: i32 = 2400;

/// A uinput device, destroyed when dropped.
struct Device(File);

impl Drop for Device {
    fn drop(&mut self) {
        let _ = ioctl(&self.0, UI_DEV_DESTROY, 0);
    }
}

/// An absolute axis: its code, minimum, maximum and resolution (units/mm).
type Axis = (u16, i32, i32, i32);

/// Open uinput and create the device `name` with the keys (and buttons)
/// `keys`, the input property `prop`, and the absolute axes `axes`.
fn create(
    name: &str,
    product: u16,
    keys: &[u16],
    prop: Option<u32>,
    axes: &[Axis],
) -> Result<Device, String> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/uinput")
        .map_err(|e| format!("/dev/uinput: {e}"))?;
    let evs: &[u16] = if axes.is_empty() {
        &[EV_SYN, EV_KEY]
    } else {
        &[EV_SYN, EV_KEY, EV_ABS]
    };
    for &ev in evs {
        ioctl(&file, UI_SET_EVBIT, ev as _)?;
    }
    for &key in keys {
        ioctl(&file, UI_SET_KEYBIT, key as _)?;
    }
    if let Some(prop) = prop {
        ioctl(&file, UI_SET_PROPBIT, prop as _)?;
    }
    for &(code, minimum, maximum, resolution) in axes {
        ioctl(&file, UI_SET_ABSBIT, code as _)?;
        let abs = UinputAbsSetup {
            code,
            _pad: 0,
            value: 0,
            minimum,
            maximum,
            fuzz: 0,
            flat: 0,
            resolution,
        };
        ioctl(&file, UI_ABS_SETUP, &abs as *const _ as _)?;
    }
    let mut dev = UinputSetup {
        bustype: 0x03, // BUS_USB
        vendor: 0x1209,
        product,
        version: 1,
        name: [0; 80],
        ff_effects_max: 0,
    };
    dev.name[..name.len()].copy_from_slice(name.as_bytes());
    ioctl(&file, UI_DEV_SETUP, &dev as *const _ as _)?;
    ioctl(&file, UI_DEV_CREATE, 0)?;
    Ok(Device(file))
}

/// Write `events` and a SYN_REPORT as one frame.
fn emit(Device(file): &mut Device, events: &[(u16, u16, i32)]) -> Result<(), String> {
    let mut bytes = Vec::with_capacity((events.len() + 1) * 24);
    for &(kind, code, value) in events.iter().chain([(EV_SYN, 0, 0)].iter()) {
        bytes.extend_from_slice(&[0u8; 16]); // the kernel stamps the time
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&code.to_ne_bytes());
        bytes.extend_from_slice(&value.to_ne_bytes());
    }
    file.write_all(&bytes).map_err(|e| format!("uinput write: {e}"))
}

/// A uinput pen tablet; the device goes when this is dropped.
pub struct Pen {
    dev: Device,
}

fn ioctl(file: &File, request: u64, arg: libc::c_ulong) -> Result<(), String> {
    // SAFETY: each request is given the argument <linux/uinput.h> defines
    // for it: an int by value, or a pointer to a live struct of the size
    // encoded in the request.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), request as _, arg) };
    if rc < 0 {
        return Err(format!(
            "uinput ioctl {request:#x}: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

impl Pen {
    /// Create the device: a direct (screen) tablet with a pen, a side
    /// button, x, y (0..=[`AXIS_MAX`], 100 units/mm) and pressure.
    pub fn create() -> Result<Pen, String> {
        let dev = create(
            PEN_NAME,
            1,
            &[BTN_TOOL_PEN, BTN_TOUCH, BTN_STYLUS],
            Some(INPUT_PROP_DIRECT),
            &[
                (ABS_X, 0, AXIS_MAX, 100),
                (ABS_Y, 0, AXIS_MAX, 100),
                (ABS_PRESSURE, 0, PRESSURE_MAX, 0),
            ],
        )?;
        Ok(Pen { dev })
    }

    fn emit(&mut self, events: &[(u16, u16, i32)]) -> Result<(), String> {
        emit(&mut self.dev, events)
    }

    /// One stroke at axis position (`x`, `y`): the pen comes into
    /// proximity there, touches down with half pressure, moves 1000 units
    /// right and down, lifts, presses and releases its side button, and
    /// leaves proximity. `pause` between the steps lets libinput see
    /// each as its own frame.
    ///
    /// First the pen comes in and goes out once: until a tablet has sent
    /// a proximity-out (BTN_TOOL_PEN 0) of its own, libinput forces one
    /// after 50 ms without events (its quirk for tablets that never send
    /// one; libinput src/evdev-tablet.c, `tablet_proximity_out_quirk_update`),
    /// which would cut the stroke at its first pause.
    pub fn stroke(&mut self, x: i32, y: i32, pause: Duration) -> Result<(), String> {
        self.emit(&[(EV_KEY, BTN_TOOL_PEN, 1), (EV_ABS, ABS_X, x), (EV_ABS, ABS_Y, y)])?;
        self.emit(&[(EV_KEY, BTN_TOOL_PEN, 0)])?;
        sleep(pause);
        self.emit(&[
            (EV_KEY, BTN_TOOL_PEN, 1),
            (EV_ABS, ABS_X, x),
            (EV_ABS, ABS_Y, y),
            (EV_ABS, ABS_PRESSURE, 0),
        ])?;
        sleep(pause);
        self.emit(&[(EV_KEY, BTN_TOUCH, 1), (EV_ABS, ABS_PRESSURE, PRESSURE_MAX / 2)])?;
        sleep(pause);
        self.emit(&[(EV_ABS, ABS_X, x + 1000), (EV_ABS, ABS_Y, y + 1000)])?;
        sleep(pause);
        self.emit(&[(EV_KEY, BTN_TOUCH, 0), (EV_ABS, ABS_PRESSURE, 0)])?;
        sleep(pause);
        self.emit(&[(EV_KEY, BTN_STYLUS, 1)])?;
        sleep(pause);
        self.emit(&[(EV_KEY, BTN_STYLUS, 0)])?;
        sleep(pause);
        self.emit(&[(EV_KEY, BTN_TOOL_PEN, 0)])
    }
}

/// A keyboard with every key from KEY_ESC to KEY_F12 (evdev codes 1..=88).
pub struct Keyboard {
    dev: Device,
}

impl Keyboard {
    pub fn create() -> Result<Keyboard, String> {
        let keys: Vec<u16> = (1..=88).collect();
        let dev = create(KEYBOARD_NAME, 2, &keys, None, &[])?;
        Ok(Keyboard { dev })
    }

    /// Press `keys` in order, then release them in reverse order, one frame
    /// each, `pause` apart.
    pub fn chord(&mut self, keys: &[u16], pause: Duration) -> Result<(), String> {
        for &key in keys {
            emit(&mut self.dev, &[(EV_KEY, key, 1)])?;
            sleep(pause);
        }
        for &key in keys.iter().rev() {
            emit(&mut self.dev, &[(EV_KEY, key, 0)])?;
            sleep(pause);
        }
        Ok(())
    }
}

/// A multitouch touchpad (three slots, a left button) that libinput
/// takes as a touchpad, for its gestures.
pub struct Touchpad {
    dev: Device,
}

impl Touchpad {
    pub fn create() -> Result<Touchpad, String> {
        let dev = create(
            TOUCHPAD_NAME,
            3,
            &[
                BTN_LEFT,
                BTN_TOUCH,
                BTN_TOOL_FINGER,
                BTN_TOOL_DOUBLETAP,
                BTN_TOOL_TRIPLETAP,
            ],
            Some(INPUT_PROP_POINTER),
            &[
                (ABS_X, 0, PAD_W, 40),
                (ABS_Y, 0, PAD_H, 40),
                (ABS_MT_SLOT, 0, 2, 0),
                (ABS_MT_TRACKING_ID, 0, 65535, 0),
                (ABS_MT_POSITION_X, 0, PAD_W, 40),
                (ABS_MT_POSITION_Y, 0, PAD_H, 40),
            ],
        )?;
        Ok(Touchpad { dev })
    }

    /// `fingers` (1 to 3) land side by side at the pad's centre, move
    /// `steps` frames of (`dx`, `dy`) units together, `pause` apart, and
    /// lift.
    pub fn drag(
        &mut self,
        fingers: usize,
        steps: i32,
        (dx, dy): (i32, i32),
        pause: Duration,
    ) -> Result<(), String> {
        let tools = [BTN_TOOL_FINGER, BTN_TOOL_DOUBLETAP, BTN_TOOL_TRIPLETAP];
        let tool = tools[fingers.clamp(1, 3) - 1];
        let at = |finger: usize, step: i32| {
            (
                PAD_W / 2 - 400 + 400 * finger as i32 + dx * step,
                PAD_H / 2 + dy * step,
            )
        };
        for step in 0..=steps {
            let mut events = Vec::new();
            for finger in 0..fingers {
                let (x, y) = at(finger, step);
                events.push((EV_ABS, ABS_MT_SLOT, finger as i32));
                if step == 0 {
                    events.push((EV_ABS, ABS_MT_TRACKING_ID, 100 + finger as i32));
                }
                events.push((EV_ABS, ABS_MT_POSITION_X, x));
                events.push((EV_ABS, ABS_MT_POSITION_Y, y));
            }
            let (x, y) = at(0, step);
            events.extend([(EV_ABS, ABS_X, x), (EV_ABS, ABS_Y, y)]);
            if step == 0 {
                events.extend([(EV_KEY, BTN_TOUCH, 1), (EV_KEY, tool, 1)]);
            }
            emit(&mut self.dev, &events)?;
            sleep(pause);
        }
        let mut events = Vec::new();
        for finger in 0..fingers {
            events.push((EV_ABS, ABS_MT_SLOT, finger as i32));
            events.push((EV_ABS, ABS_MT_TRACKING_ID, -1));
        }
        events.extend([(EV_KEY, BTN_TOUCH, 0), (EV_KEY, tool, 0)]);
        emit(&mut self.dev, &events)
    }
}

/// `--uinput-touchpad GO,DONE`: create the touchpad, wait for the file GO,
/// move the pointer with one finger (20 frames of 1 mm right), then swipe
/// three fingers 30 frames of 1 mm down, and keep the device until DONE
/// exists (at most 120 s).
pub fn run_touchpad(spec: &str) -> Result<String, String> {
    let [go, done] = spec.splitn(2, ',').collect::<Vec<_>>()[..] else {
        return Err("--uinput-touchpad GO,DONE".into());
    };
    let mut pad = Touchpad::create()?;
    eprintln!("TOUCHPAD CREATED");
    if !wait_file(go) {
        return Err(format!("{go} never appeared"));
    }
    let pause = Duration::from_millis(12);
    pad.drag(1, 20, (40, 0), pause)?;
    sleep(Duration::from_millis(300));
    pad.drag(3, 30, (0, 40), pause)?;
    eprintln!("TOUCHPAD SWIPE SENT");
    wait_file(done);
    Ok("{\"ok\":true,\"touchpad\":true}".into())
}

/// Until `path` exists, at most 120 s.
fn wait_file(path: &str) -> bool {
    for _ in 0..1200 {
        if Path::new(path).exists() {
            return true;
        }
        sleep(Duration::from_millis(100));
    }
    false
}

/// `--uinput-keys K1+K2+...,GO,DONE`: create the keyboard, wait for the
/// file GO, press the evdev key codes K1, K2, ... together (a chord, such
/// as 29+56+60 for Ctrl+Alt+F2) and release them, and keep the device until
/// DONE exists (at most 120 s).
pub fn run_keys(spec: &str) -> Result<String, String> {
    let parts: Vec<&str> = spec.splitn(3, ',').collect();
    let [keys, go, done] = parts[..] else {
        return Err("--uinput-keys K1+K2+...,GO,DONE".into());
    };
    let keys: Vec<u16> = keys
        .split('+')
        .map(|k| k.parse().map_err(|_| format!("bad key code {k:?}")))
        .collect::<Result<_, _>>()?;
    let mut keyboard = Keyboard::create()?;
    eprintln!("KEYBOARD CREATED");
    if !wait_file(go) {
        return Err(format!("{go} never appeared"));
    }
    keyboard.chord(&keys, Duration::from_millis(100))?;
    eprintln!("KEYS SENT");
    wait_file(done);
    Ok("{\"ok\":true,\"keys\":true}".into())
}

/// `--uinput-pen X,Y,GO,DONE`: create the pen, wait for the file GO, draw
/// one stroke at (X, Y) (axis units), and keep the device until DONE
/// exists (at most 120 s).
pub fn run(spec: &str) -> Result<String, String> {
    let parts: Vec<&str> = spec.splitn(4, ',').collect();
    let [x, y, go, done] = parts[..] else {
        return Err("--uinput-pen X,Y,GO,DONE".into());
    };
    let x: i32 = x.parse().map_err(|_| "bad X")?;
    let y: i32 = y.parse().map_err(|_| "bad Y")?;
    let mut pen = Pen::create()?;
    eprintln!("PEN CREATED");
    if !wait_file(go) {
        return Err(format!("{go} never appeared"));
    }
    pen.stroke(x, y, Duration::from_millis(300))?;
    eprintln!("PEN STROKE SENT");
    wait_file(done);
    Ok("{\"ok\":true,\"pen\":true}".into())
}
