"use strict";

// A test MQTT broker (aedes, a dev dependency) with simulated Nuki Smart Locks 3.0 Pro / 4th generation on it
// (research/nuki.md §3, §6.4). Each lock publishes retained per-aspect topics under `{prefix}/{NUKI_ID_HEX}/`
// (state, doorsensorState, battery..., connected), announces every lock action on `lockActionEvent` *before*
// moving (`LockAction,Trigger,AuthID,CodeID,Context`), answers commands on `lockAction` with `commandResponse`
// (0 = ok, BLE error codes otherwise: one command at a time, "busy" 0x45 while moving) and refuses remote
// commands when "allow locking" is off (0x26). Where the spec is silent the stricter reading is taken.
// Runnable as a demo broker with one lock: `node test/simulators/nuki-mqtt.js [--port 1883]`.

const { EventEmitter } = require("node:events");
const net = require("node:net");

const STATE_FIELDS = ["state", "doorsensorState", "batteryCritical", "batteryChargeState", "batteryCharging", "keypadBatteryCritical", "doorsensorBatteryCritical"];
/** LockAction -> [moving state, end state] (research §1.3 state table, §3.2 actions 1-6). */
const MOTION = { 1: [2, 3], 2: [4, 1], 3: [7, 3], 4: [2, 1], 5: [7, 1], 6: [4, 1] };
const TRIGGER_MQTT = 172;
const HISTORY_LIMIT = 10_000;

function hex8(nukiId) {
  return nukiId.toString(16).toUpperCase().padStart(8, "0");
}

function defaultLocks() {
  return [
    // The Wi-Fi "Back door" of the Nuki Web simulator: no bridge, MQTT and cloud only.
    { nukiId: 1544552161, name: "Back door", state: { state: 1, doorsensorState: 2, batteryCritical: false, batteryChargeState: 64, batteryCharging: false, keypadBatteryCritical: false, doorsensorBatteryCritical: false } },
  ];
}

class NukiMqttSimulator extends EventEmitter {
  /**
   * @param {object} [options]
   * @param {string} [options.host] default 127.0.0.1
   * @param {number} [options.port] 0 = any free port
   * @param {string} [options.prefix] topic prefix, "nuki" as on the lock
   * @param {object[]} [options.locks] { nukiId, name, state: { state, doorsensorState, ... } }
   * @param {number} [options.actionMs] duration of one motor movement
   * @param {boolean} [options.allowLocking] the app's "allow locking" flag for MQTT commands (default true)
   */
  constructor(options = {}) {
    super();
    this.host = options.host ?? "127.0.0.1";
    this.port = options.port ?? 0;
    this.prefix = options.prefix ?? "nuki";
    this.actionMs = options.actionMs ?? 100;
    this.allowLocking = options.allowLocking ?? true;
    this._locks = new Map();
    for (const spec of options.locks ?? defaultLocks()) {
      this._locks.set(hex8(spec.nukiId), { id: hex8(spec.nukiId), name: spec.name, s: { ...spec.state }, moving: false, connected: true });
    }
    this._published = [];
    this._commands = [];
    this._timers = new Set();
    this._broker = null;
    this._server = null;
    this.url = null;
  }

  async start() {
    const { Aedes } = await import("aedes");
    this._broker = await Aedes.createBroker();
    this._broker.on("publish", (packet, client) => {
      // What clients (the plugin) publish; server-side publishes are the locks themselves.
      if (client) pushCapped(this._published, { topic: packet.topic, payload: packet.payload.toString(), qos: packet.qos, retain: packet.retain, clientId: client.id });
    });
    this._server = net.createServer(this._broker.handle);
    await new Promise((resolve, reject) => {
      this._server.once("error", reject);
      this._server.listen(this.port, this.host, resolve);
    });
    this.port = this._server.address().port;
    this.url = `mqtt://${this.host}:${this.port}`;
    for (const lock of this._locks.values()) {
      await this._subscribe(`${this.prefix}/${lock.id}/lockAction`, (payload) => this._command(lock, payload));
      await this._publish(lock, "deviceType", "4", true);
      await this._publish(lock, "name", lock.name, true);
      await this._publish(lock, "connected", "true", true);
      for (const field of STATE_FIELDS) if (field in lock.s) await this._publish(lock, field, String(lock.s[field]), true);
    }
    return { url: this.url, port: this.port };
  }

  async stop() {
    for (const timer of this._timers) clearTimeout(timer);
    this._timers.clear();
    const broker = this._broker;
    const server = this._server;
    this._broker = null;
    this._server = null;
    if (broker) await new Promise((resolve) => broker.close(() => resolve()));
    if (server) await new Promise((resolve) => server.close(() => resolve()));
  }

  /** Messages clients published (topic, payload, qos, retain). */
  get published() {
    return [...this._published];
  }
  /** Commands the locks received, with the commandResponse they answered. */
  get commands() {
    return [...this._commands];
  }
  get clients() {
    return this._broker ? this._broker.connectedClients : 0;
  }
  lock(id) {
    const lock = this._locks.get(String(id).toUpperCase());
    return lock && { id: lock.id, name: lock.name, ...lock.s, connected: lock.connected };
  }

  // ---- happenings at the lock ------------------------------------------------------------------------------

  /** A keypad code (context 1) or fingerprint (context 2) opens the door: event first, then the motor. */
  keypad(id, { action = 3, authId = 54321, codeId = 12345, fingerprint = false } = {}) {
    return this._act(this._require(id), action, `${action},0,${authId},${codeId},${fingerprint ? 2 : 1}`);
  }

  /** A turn of the knob (trigger 1 manual). */
  manual(id, action) {
    return this._act(this._require(id), action, `${action},1,0,0,0`);
  }

  /** The app over Bluetooth (trigger 0, the app's auth id, context = auto-unlock flag). */
  app(id, action, authId, { autoUnlock = false } = {}) {
    return this._act(this._require(id), action, `${action},0,${authId},0,${autoUnlock ? 1 : 0}`);
  }

  async door(id, open) {
    const lock = this._require(id);
    lock.s.doorsensorState = open ? 3 : 2;
    await this._publish(lock, "doorsensorState", String(lock.s.doorsensorState), true);
  }

  async setConnected(id, connected) {
    const lock = this._require(id);
    lock.connected = connected;
    await this._publish(lock, "connected", String(connected), true);
  }

  async setField(id, field, value) {
    const lock = this._require(id);
    lock.s[field] = value;
    await this._publish(lock, field, String(value), true);
  }

  /** Publishes anything on a lock's topic (malformed payloads, unknown topics). */
  raw(topic, payload, retain = false) {
    return new Promise((resolve, reject) =>
      this._broker.publish({ cmd: "publish", topic, payload: Buffer.from(payload), qos: 1, retain, dup: false }, (err) => (err ? reject(err) : resolve())),
    );
  }

  // ---- internals -------------------------------------------------------------------------------------------

  async _command(lock, payload) {
    const text = payload.toString().trim();
    const action = /^\d+$/.test(text) ? Number(text) : NaN;
    let response = 0;
    if (!lock.connected) return; // an offline lock answers nothing
    if (!(action in MOTION)) response = 0x23; // "Only actions 1-6 are supported"
    else if (!this.allowLocking) response = 0x26; // remote not allowed
    else if (lock.moving) response = 0x45; // busy
    pushCapped(this._commands, { id: lock.id, payload: text, response });
    if (response !== 0) return this._publish(lock, "commandResponse", String(response), false);
    await this._act(lock, action, `${action},${TRIGGER_MQTT},0,0,0`, true);
  }

  /** lockActionEvent, (commandResponse), moving state, end state: the order the spec describes. */
  async _act(lock, action, event, command = false) {
    const [moving, end] = MOTION[action];
    lock.moving = true;
    await this._publish(lock, "lockActionEvent", event, false);
    if (command) await this._publish(lock, "commandResponse", "0", false);
    lock.s.state = moving;
    await this._publish(lock, "state", String(moving), true);
    await new Promise((resolve) => this._timer(resolve, this.actionMs));
    lock.s.state = end;
    lock.moving = false;
    await this._publish(lock, "state", String(end), true);
  }

  _require(id) {
    const lock = this._locks.get(String(id).toUpperCase());
    if (!lock) throw new Error(`no lock ${id}`);
    return lock;
  }

  _publish(lock, field, payload, retain) {
    if (!this._broker) return Promise.resolve();
    return new Promise((resolve, reject) =>
      this._broker.publish(
        { cmd: "publish", topic: `${this.prefix}/${lock.id}/${field}`, payload: Buffer.from(payload), qos: 1, retain, dup: false },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  }

  _subscribe(topic, handler) {
    return new Promise((resolve) =>
      this._broker.subscribe(
        topic,
        (packet, cb) => {
          cb();
          handler(packet.payload).catch((err) => this.emit("error", err));
        },
        resolve,
      ),
    );
  }

  _timer(fn, ms) {
    const timer = setTimeout(() => {
      this._timers.delete(timer);
      fn();
    }, ms);
    this._timers.add(timer);
  }
}

function pushCapped(list, item) {
  list.push(item);
  if (list.length > HISTORY_LIMIT) list.shift();
}

async function main(argv) {
  const index = argv.indexOf("--port");
  const sim = new NukiMqttSimulator({ port: index >= 0 ? Number(argv[index + 1]) : 1883 });
  const { url } = await sim.start();
  console.log(`MQTT broker with simulated Nuki locks on ${url}`);
  for (const lock of sim._locks.values()) console.log(`  ${sim.prefix}/${lock.id}/... "${lock.name}"`);
  const shutdown = () => sim.stop().then(() => process.exit(0));
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err.message);
    process.exit(1);
  });
}

module.exports = { NukiMqttSimulator, defaultLocks };
