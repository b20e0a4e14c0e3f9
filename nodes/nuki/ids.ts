/**
 * Nuki device ids. The bridge reports `nukiId` as a decimal number; users, the app and MQTT topics use the
 * 8-digit upper-case hex Nuki ID, which is our `device.id`. The Web API's `smartlockId` is the device type
 * digit followed by those 8 hex digits, read as one hex number (research/nuki.md 1.8).
 */

export function nukiIdToHex(nukiId: number): string {
  return (nukiId >>> 0).toString(16).toUpperCase().padStart(8, "0");
}

/** Accepts the hex form (any case, optional 0x) or a decimal nukiId; null when it is neither. */
export function parseDeviceId(value: unknown): number | null {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 && value <= 0xffffffff ? value : null;
  if (typeof value !== "string") return null;
  const text = value.trim();
  if (/^(0x)?[0-9a-f]{8}$/i.test(text)) return parseInt(text.replace(/^0x/i, ""), 16);
  if (/^[0-9]{1,10}$/.test(text)) return parseDeviceId(Number(text));
  return null;
}

/** Web API smartlockId for a device: hex digit of the type, then the 8 hex digits of the nukiId. */
export function smartlockIdFor(deviceType: number, nukiId: number): number {
  return parseInt(`${deviceType.toString(16)}${nukiIdToHex(nukiId)}`, 16);
}

/** The device.id (8 hex digits) of a Web API smartlockId: its last 8 hex digits. */
export function deviceIdFromSmartlockId(smartlockId: number): string {
  return smartlockId.toString(16).toUpperCase().padStart(8, "0").slice(-8);
}
