// Nuki Bridge callback bodies for the load runs: the full device state a real bridge POSTs (doc V1.13.3
// §"Callback"), for Smart Lock 3.0 Pro devices with door sensor and keypad. Every body changes what the
// receiver knows about its device, so every accepted request yields events:
//   "door" mode: the door sensor alternates closed/open            -> 1 event per request (door.opened/closed)
//   "all" mode:  lock 1/3, door 2/3, batteryCritical, batteryCharging, batteryChargeState 80/81 and
//                keypadBatteryCritical all flip                      -> 6 events per request
// The receivers (our listener, the hand-built flow, the plain server) keep state per device, so the
// order of one device's bodies matters: a device belongs to one load connection only, and a connection
// rotates over several devices so that the same transition of one device never repeats within a few
// milliseconds (the tracker's event id includes the receive time in ms; see bench/RESULTS.md).

export const EVENTS_PER_REQUEST = { door: 1, all: 6 };

const DOOR_NAMES = { 2: "door closed", 3: "door opened" };
const LOCK_NAMES = { 1: "locked", 3: "unlocked" };

class BenchDevice {
  constructor(nukiId) {
    this.nukiId = nukiId;
    this.step = 0;
  }

  /** The next callback body of this device (a Buffer, ready to send); the device moves on when it is sent. */
  next(mode) {
    const body = this.peek(mode);
    this.commit();
    return body;
  }

  /** Moves on to the next state: the body from peek() reached the receiver. */
  commit() {
    this.step++;
  }

  /** The body the device sends next, without moving on. */
  peek(mode) {
    const flip = this.step % 2 === 1;
    const all = mode === "all";
    const state = all && flip ? 3 : 1;
    const door = flip ? 3 : 2;
    const body = {
      nukiId: this.nukiId,
      deviceType: 4,
      mode: 2,
      state,
      stateName: LOCK_NAMES[state],
      batteryCritical: all && flip,
      batteryCharging: all && flip,
      batteryChargeState: all && flip ? 81 : 80,
      keypadBatteryCritical: all && flip,
      doorsensorState: door,
      doorsensorStateName: DOOR_NAMES[door],
    };
    return Buffer.from(JSON.stringify(body));
  }
}

/**
 * A set of devices for one receiver; `base` keeps the nukiIds of different pools apart. Devices keep their
 * step across runs, so a pool must be used for one receiver only.
 */
export class DevicePool {
  constructor(base, size) {
    this.devices = Array.from({ length: size }, (_, i) => new BenchDevice(base + i));
  }

  /** Devices `perConnection` at a time for connection `index` (wrapping around the pool). */
  forConnection(index, perConnection) {
    const out = [];
    for (let i = 0; i < perConnection; i++) out.push(this.devices[(index * perConnection + i) % this.devices.length]);
    return out;
  }
}
