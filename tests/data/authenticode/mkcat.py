#!/usr/bin/env python3
"""mkcat.py OUT.cat SIGNER_PREFIX PE [PE...] [--sha1]

A minimal Microsoft catalog as ClamAV reads one: a PKCS#7 SignedData
(version 1) of szOID_CTL content listing the Authenticode hashes (SHA-256,
or SHA-1 with --sha1) of the given PE files, signed (RSA, PKCS#1 v1.5)
with SIGNER_PREFIX.crt/.key. `openssl cms -sign` cannot make it: it writes
SignedData version 3 for non-data content (test use only).
"""
import datetime
import hashlib
import struct
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from der import NULL, content_of, integer, octets, oid, seq, set_, tlv

SPC_INDIRECT_DATA = '1.3.6.1.4.1.311.2.1.4'
SPC_PE_IMAGE_DATA = '1.3.6.1.4.1.311.2.1.15'
SZOID_CTL = '1.3.6.1.4.1.311.10.1'


def authenticode_hash(path, h):
    """The file minus CheckSum, the certificate table entry and the table."""
    d = open(path, 'rb').read()
    e = struct.unpack_from('<I', d, 0x3c)[0]
    magic = struct.unpack_from('<H', d, e + 24)[0]
    opt = e + 24
    chk = opt + 64
    sec = opt + (96 if magic == 0x10b else 112) + 32
    off, _size = struct.unpack_from('<II', d, sec)
    end = off if off else len(d)
    m = hashlib.new(h)
    m.update(d[:chk])
    m.update(d[chk + 4:sec])
    m.update(d[sec + 8:end])
    return m.digest()


args = [a for a in sys.argv[1:] if not a.startswith('--')]
out, signer, pes = args[0], args[1], args[2:]
hname = 'sha1' if '--sha1' in sys.argv else 'sha256'
h_oid = {'sha1': '1.3.14.3.2.26', 'sha256': '2.16.840.1.101.3.4.2.1'}[hname]
members = []
for pe in pes:
    ah = authenticode_hash(pe, hname)
    pe_image_data = seq(tlv(0x03, b'\x00'),
                        tlv(0xa0, tlv(0xa2, tlv(0x80, b''))))
    indirect = seq(seq(oid(SPC_PE_IMAGE_DATA), pe_image_data),
                   seq(seq(oid(h_oid), NULL), octets(ah)))
    attr = seq(oid(SPC_INDIRECT_DATA), set_(indirect))
    tag = ah.hex().upper().encode('utf-16-le')
    members.append(seq(octets(tag), set_(attr)))
now = datetime.datetime.now(datetime.timezone.utc)
ctl = seq(
    seq(oid('1.3.6.1.4.1.311.12.1.1')),           # szOID_CATALOG_LIST
    octets(b'\x11' * 16),                           # listIdentifier
    tlv(0x17, now.strftime('%y%m%d%H%M%SZ').encode()),  # thisUpdate
    seq(oid('1.3.6.1.4.1.311.12.1.2'), NULL),      # CATALOG_LIST_MEMBER
    seq(*members))
cert = x509.load_pem_x509_certificate(open(signer + '.crt', 'rb').read())
key = serialization.load_pem_private_key(open(signer + '.key', 'rb').read(),
                                         None)
md = hashlib.new(hname, content_of(ctl)).digest()
attrs = set_(seq(oid('1.2.840.113549.1.9.3'), set_(oid(SZOID_CTL))),
             seq(oid('1.2.840.113549.1.9.4'), set_(octets(md))))
sig_hash = {'sha1': hashes.SHA1(), 'sha256': hashes.SHA256()}[hname]
signature = key.sign(attrs, padding.PKCS1v15(), sig_hash)
signer_info = seq(
    integer(1), seq(cert.issuer.public_bytes(), integer(cert.serial_number)),
    seq(oid(h_oid), NULL), tlv(0xa0, content_of(attrs)),
    seq(oid('1.2.840.113549.1.1.1'), NULL), octets(signature))
signed_data = seq(
    integer(1), set_(seq(oid(h_oid), NULL)),
    seq(oid(SZOID_CTL), tlv(0xa0, ctl)),
    tlv(0xa0, cert.public_bytes(serialization.Encoding.DER)),
    set_(signer_info))
open(out, 'wb').write(seq(oid('1.2.840.113549.1.7.2'), tlv(0xa0, signed_data)))
