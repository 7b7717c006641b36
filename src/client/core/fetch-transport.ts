// REST over fetch (browsers, and Node when asked): CORS mode, no credentials.
import type { HttpTransport } from './rest.js';

export function fetchTransport(fetchImpl: typeof fetch = globalThis.fetch): HttpTransport {
  return async ({ method, url, headers, body }) => {
    const res = await fetchImpl(url, {
      method,
      headers,
      body,
      mode: 'cors',
      credentials: 'omit',
    });
    return {
      status: res.status,
      text: await res.text(),
      retryAfter: res.headers.get('retry-after'),
    };
  };
}
