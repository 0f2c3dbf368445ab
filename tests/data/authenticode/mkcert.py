#!/usr/bin/env python3
"""mkcert.py OUT CN NOT_BEFORE NOT_AFTER [--ca CAPREFIX] [--no-eku] [--no-ku]
             [--eku-time] [--e N] [--bits N] [--serial N] [--hash H]

An RSA certificate with any dates (YYYY-MM-DD, UTC midnight), for the
Authenticode test (tests/tests/authenticode.rs). Without --ca: a
self-signed CA (CA:TRUE, keyCertSign, codeSigning EKU); with --ca: a leaf
(CA:FALSE, digitalSignature, codeSigning or with --eku-time timeStamping
EKU) issued by CAPREFIX.crt/.key. --serial takes 0x... too. Writes
OUT.crt and OUT.key (PEM). Works with python3-cryptography 38.
"""
import argparse
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

p = argparse.ArgumentParser()
for arg in ('out', 'cn', 'nb', 'na'):
    p.add_argument(arg)
p.add_argument('--ca')
p.add_argument('--no-eku', action='store_true')
p.add_argument('--no-ku', action='store_true')
p.add_argument('--eku-time', action='store_true')
p.add_argument('--e', type=int, default=65537)
p.add_argument('--bits', type=int, default=2048)
p.add_argument('--serial', type=lambda s: int(s, 0), default=None)
p.add_argument('--hash', default='sha256')
a = p.parse_args()

key = rsa.generate_private_key(public_exponent=a.e, key_size=a.bits)
name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, 'US'),
                  x509.NameAttribute(NameOID.COMMON_NAME, a.cn)])
if a.ca:
    ca_cert = x509.load_pem_x509_certificate(open(a.ca + '.crt', 'rb').read())
    ca_key = serialization.load_pem_private_key(
        open(a.ca + '.key', 'rb').read(), None)
    issuer = ca_cert.subject
else:
    ca_key, issuer = key, name


def day(s):
    return datetime.datetime.strptime(s, '%Y-%m-%d').replace(
        tzinfo=datetime.timezone.utc)


is_ca = not a.ca
b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer)
     .public_key(key.public_key())
     .serial_number(a.serial or x509.random_serial_number())
     .not_valid_before(day(a.nb)).not_valid_after(day(a.na))
     .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None),
                    critical=True))
if not a.no_ku:
    b = b.add_extension(x509.KeyUsage(
        digital_signature=True, content_commitment=False,
        key_encipherment=False, data_encipherment=False, key_agreement=False,
        key_cert_sign=is_ca, crl_sign=is_ca, encipher_only=False,
        decipher_only=False), critical=True)
if not a.no_eku:
    usage = (ExtendedKeyUsageOID.TIME_STAMPING if a.eku_time
             else ExtendedKeyUsageOID.CODE_SIGNING)
    b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=a.eku_time)
h = {'sha1': hashes.SHA1(), 'sha256': hashes.SHA256(),
     'sha384': hashes.SHA384(), 'sha512': hashes.SHA512(),
     'md5': hashes.MD5()}[a.hash]
cert = b.sign(ca_key, h)
open(a.out + '.crt', 'wb').write(
    cert.public_bytes(serialization.Encoding.PEM))
open(a.out + '.key', 'wb').write(key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
    serialization.NoEncryption()))
