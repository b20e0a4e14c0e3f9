/**
 * Node status shapes used by every vendor, following Node-RED's conventions: green dot = connected,
 * yellow ring = connecting/working, red ring = error, grey = idle. Texts are i18n keys or short reasons.
 */
export interface NodeStatus {
  fill?: "red" | "green" | "yellow" | "blue" | "grey";
  shape?: "ring" | "dot";
  text?: string;
}

export const status = {
  connected: (text: string): NodeStatus => ({ fill: "green", shape: "dot", text }),
  connecting: (text: string): NodeStatus => ({ fill: "yellow", shape: "ring", text }),
  working: (text: string): NodeStatus => ({ fill: "blue", shape: "dot", text }),
  warning: (text: string): NodeStatus => ({ fill: "yellow", shape: "dot", text }),
  error: (text: string): NodeStatus => ({ fill: "red", shape: "ring", text }),
  idle: (text: string): NodeStatus => ({ fill: "grey", shape: "ring", text }),
  clear: (): NodeStatus => ({}),
};

/** Status texts stay short (Node-RED recommends about 20 characters); longer reasons are cut. */
export function shortText(text: string, max = 32): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
