// The address a per-IP limit applies to (docs/protocol.md §1): an IPv4 client by its address, an
// IPv6 client by its /64 (one subscriber's usual allocation), an IPv4-mapped IPv6 address as the
// IPv4.
import ipaddr from 'ipaddr.js';

/** `1.2.3.4` as it is, `::ffff:1.2.3.4` as `1.2.3.4`, `2001:db8::1` as `2001:db8:0:0::/64`;
 *  anything that is not an IPv6 address (IPv4 included) is returned unchanged. */
export function ipLimitKey(ip: string): string {
  if (!ipaddr.IPv6.isValid(ip)) return ip;
  const address = ipaddr.IPv6.parse(ip);
  if (address.isIPv4MappedAddress()) return address.toIPv4Address().toString();
  return `${address.parts
    .slice(0, 4)
    .map((part) => part.toString(16))
    .join(':')}::/64`;
}
