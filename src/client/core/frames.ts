// The JSON frames of the relay's WebSocket protocol (docs/protocol.md §4) as the client reads them:
// their types, and parsing a text frame or an `error` frame's fields.

/** A JSON frame of the protocol: an object with a string `type`. */
export interface Frame {
  type: string;
  [field: string]: unknown;
}

export interface AuthSuccess extends Frame {
  type: 'auth_success';
  identity_hash: string;
  session_token: string;
  keys_missing: boolean;
  prekeys: number;
}

export interface DeliveryStatus extends Frame {
  type: 'delivery_status';
  id?: string;
  target: string;
  status: 'delivered' | 'queued' | 'rejected';
  reason?: string;
}

export interface RelayErrorFrame {
  code: string;
  message: string;
  retry_after?: number;
}

export interface MulticastTarget {
  to: string;
  body: unknown;
  msg_type?: string;
}

/** The frame in `text`, or null if it is not JSON or has no string `type`. */
export function parseFrame(text: string): Frame | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && typeof (value as Frame).type === 'string'
      ? (value as Frame)
      : null;
  } catch {
    return null;
  }
}

/** The code, message and retry_after of an `error` frame. */
export function errorOf(frame: Frame): RelayErrorFrame {
  const err: RelayErrorFrame = { code: String(frame.code), message: String(frame.message ?? '') };
  if (typeof frame.retry_after === 'number') err.retry_after = frame.retry_after;
  return err;
}
