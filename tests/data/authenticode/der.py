"""Minimal DER writers shared by mkcat.py and tsserver.py (test use only)."""


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, 'big')
    return bytes([0x80 | len(b)]) + b


def tlv(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def seq(*items):
    return tlv(0x30, b''.join(items))


def set_(*items):
    return tlv(0x31, b''.join(items))


def oid(dotted):
    parts = [int(x) for x in dotted.split('.')]
    out = bytes([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        enc = [p & 0x7f]
        p >>= 7
        while p:
            enc.append(0x80 | (p & 0x7f))
            p >>= 7
        out += bytes(reversed(enc))
    return tlv(0x06, out)


def integer(n):
    """A non-negative INTEGER in minimal two's complement."""
    return tlv(0x02, n.to_bytes((n.bit_length() + 8) // 8, 'big'))


def octets(b):
    return tlv(0x04, b)


NULL = b'\x05\x00'


def content_of(der):
    """The value bytes of a DER element (without its tag and length)."""
    l = der[1]
    return der[2 + (l & 0x7f):] if l & 0x80 else der[2:]


def parse_tlv(b, i=0):
    """(tag, value, index after the element) of the element at b[i]."""
    tag, l = b[i], b[i + 1]
    i += 2
    if l & 0x80:
        n = l & 0x7f
        l = int.from_bytes(b[i:i + n], 'big')
        i += n
    return tag, b[i:i + l], i + l
