#!/usr/bin/env python3
"""tsserver.py TSA_PREFIX SIGNING_TIME(YYMMDDHHMMSSZ) [TIMEOUT_S]

A one-shot legacy (PKCS#9 countersignature) Authenticode timestamp server
for `osslsigncode sign -t http://127.0.0.1:PORT/`, signing with
TSA_PREFIX.crt/.key and claiming SIGNING_TIME. It listens on 127.0.0.1
only, prints the port on the first line of stdout, answers ONE request
and exits; it exits anyway after TIMEOUT_S seconds (default 60) without
one. The reply is base64 (what osslsigncode 2.5 reads; 2.9 reads it too).
Test use only.
"""
import base64
import hashlib
import http.server
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from der import NULL, content_of, integer, octets, oid, parse_tlv, seq, set_, tlv

tsa, stime = sys.argv[1], sys.argv[2]
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0
cert = x509.load_pem_x509_certificate(open(tsa + '.crt', 'rb').read())
key = serialization.load_pem_private_key(open(tsa + '.key', 'rb').read(), None)
SHA256 = '2.16.840.1.101.3.4.2.1'


def build_response(req):
    # TimeStampRequest ::= SEQUENCE { OID, ContentInfo { OID data,
    #   [0] { OCTET STRING: the main signer's encryptedDigest } } }
    _, body, _ = parse_tlv(req)
    _, _, nxt = parse_tlv(body)
    _, ci, _ = parse_tlv(body, nxt)
    _, _, nxt2 = parse_tlv(ci)
    _, expl, _ = parse_tlv(ci, nxt2)
    _, sig, _ = parse_tlv(expl)
    attrs = set_(
        seq(oid('1.2.840.113549.1.9.3'), set_(oid('1.2.840.113549.1.7.1'))),
        seq(oid('1.2.840.113549.1.9.5'), set_(tlv(0x17, stime.encode()))),
        seq(oid('1.2.840.113549.1.9.4'),
            set_(octets(hashlib.sha256(sig).digest()))))
    s = key.sign(attrs, padding.PKCS1v15(), hashes.SHA256())
    si = seq(integer(1),
             seq(cert.issuer.public_bytes(), integer(cert.serial_number)),
             seq(oid(SHA256), NULL), tlv(0xa0, content_of(attrs)),
             seq(oid('1.2.840.113549.1.1.1'), NULL), octets(s))
    sd = seq(integer(1), set_(seq(oid(SHA256), NULL)),
             seq(oid('1.2.840.113549.1.7.1'), tlv(0xa0, octets(sig))),
             tlv(0xa0, cert.public_bytes(serialization.Encoding.DER)),
             set_(si))
    return seq(oid('1.2.840.113549.1.7.2'), tlv(0xa0, sd))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length']))
        resp = base64.b64encode(build_response(base64.b64decode(body)))
        self.send_response(200)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Content-Length', str(len(resp)))
        self.end_headers()
        self.wfile.write(resp)

    def log_message(self, *args):
        pass


srv = http.server.HTTPServer(('127.0.0.1', 0), Handler)
srv.timeout = timeout
print(srv.server_address[1], flush=True)
srv.handle_request()
srv.server_close()
