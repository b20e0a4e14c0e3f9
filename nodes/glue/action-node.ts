/**
 * What every `<vendor>-action` node does with a message, whatever the vendor: read the request (node
 * settings win, else `msg.payload` as "lock" or `{ action, device }`), show progress, build the contract's
 * result `{ ok, vendor, device, action, confirmed, lock, door }`, and hand failures to Catch via done(err).
 * Node-RED glue shared by the vendor node sets; the vendor supplies `perform`.
 */
import type { Node, NodeMessageInFlow } from "node-red";
import type { DoorState, LockState, Vendor } from "../core/door-event";
import { SmartlockError, toSmartlockError } from "../core/errors";
import { shortText, status } from "../core/status";

export interface ActionRequest {
  device: string;
  action: string;
}

export interface ActionOutcome {
  device: string;
  action: string;
  confirmed: boolean;
  lock: LockState | null;
  door: DoorState | null;
}

/** i18n texts the vendor's catalog provides (already translated). */
export interface ActionTexts {
  noAction: string;
  noDevice: string;
  notConfirmed: string;
  notConfirmedWarning: (outcome: ActionOutcome) => string;
}

/** Node settings win where set; otherwise `msg.payload` is "lock" or `{ action, device }`. */
export function readActionRequest(
  settings: { action?: string | undefined; device?: string | undefined },
  payload: unknown,
  texts: Pick<ActionTexts, "noAction" | "noDevice">,
  options: { deviceOptional?: boolean } = {},
): ActionRequest {
  let action = (settings.action ?? "").trim();
  let device = (settings.device ?? "").trim();
  if (typeof payload === "string") {
    if (!action) action = payload.trim();
  } else if (payload && typeof payload === "object") {
    const p = payload as { action?: unknown; device?: unknown };
    if (!action && typeof p.action === "string") action = p.action.trim();
    if (!device && (typeof p.device === "string" || typeof p.device === "number")) device = String(p.device).trim();
  }
  if (!action) throw new SmartlockError("bad_request", texts.noAction);
  if (!device && !options.deviceOptional) throw new SmartlockError("bad_request", texts.noDevice);
  return { device, action: action.toLowerCase() };
}

/**
 * Runs one action for one message. Tracks how many are pending so the status shows the last one to
 * finish, and never lets a rejection escape (an unhandled rejection would stop Node-RED).
 */
export class ActionRunner {
  private pending = 0;

  constructor(
    private readonly node: Node,
    private readonly vendor: Vendor,
    private readonly texts: ActionTexts,
  ) {}

  run(
    msg: NodeMessageInFlow,
    send: (msg: NodeMessageInFlow) => void,
    done: (err?: Error) => void,
    request: ActionRequest,
    confirm: boolean,
    perform: () => Promise<ActionOutcome>,
  ): void {
    this.pending++;
    this.node.status(status.connecting(shortText(`${request.action}…`)));
    Promise.resolve()
      .then(perform)
      .then((outcome) => {
        (msg as unknown as { payload: unknown }).payload = {
          ok: true,
          vendor: this.vendor,
          device: outcome.device,
          action: outcome.action,
          confirmed: outcome.confirmed,
          lock: outcome.lock,
          door: outcome.door,
        };
        if (confirm && !outcome.confirmed) this.node.warn(this.texts.notConfirmedWarning(outcome));
        if (--this.pending === 0) {
          this.node.status(
            !confirm || outcome.confirmed
              ? status.connected(shortText(`${outcome.action}: ${outcome.lock ?? "ok"}`))
              : status.warning(shortText(`${outcome.action}: ${this.texts.notConfirmed}`)),
          );
        }
        send(msg);
        done();
      })
      .catch((err: unknown) => {
        const error = toSmartlockError(err);
        if (--this.pending === 0) this.node.status(status.error(shortText(`${request.action}: ${error.code}`)));
        done(error);
      });
  }
}
