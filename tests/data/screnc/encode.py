#!/usr/bin/python3
"""Encodes a script as Microsoft's Script Encoder does (screnc.exe, which
no Debian package has): `#@~^`, the length in base64, the characters
substituted through three tables in a fixed order of 64, a checksum and
`^#~@`. The tables are inverted from Didier Stevens' public-domain
VBE decoder (decode-vbe.py), written here in his form.

Usage: encode.py SCRIPT OUT
"""
import base64
import struct
import sys

D = {9:'\x57\x6E\x7B',32:'\x2E\x2D\x32',33:'\x47\x75\x30',34:'\x7A\x52\x21',35:'\x56\x60\x29',36:'\x42\x71\x5B',37:'\x6A\x5E\x38',38:'\x2F\x49\x33',39:'\x26\x5C\x3D',40:'\x49\x62\x58',41:'\x41\x7D\x3A',42:'\x34\x29\x35',43:'\x32\x36\x65',44:'\x5B\x20\x39',45:'\x76\x7C\x5C',46:'\x72\x7A\x56',47:'\x43\x7F\x73',48:'\x38\x6B\x66',49:'\x39\x63\x4E',50:'\x70\x33\x45',51:'\x45\x2B\x6B',52:'\x68\x68\x62',53:'\x71\x51\x59',54:'\x4F\x66\x78',55:'\x09\x76\x5E',56:'\x62\x31\x7D',57:'\x44\x64\x4A',58:'\x23\x54\x6D',59:'\x75\x43\x71',61:'\x7E\x3A\x60',63:'\x5E\x7E\x53',65:'\x77\x45\x42',66:'\x4A\x2C\x27',67:'\x61\x2A\x48',68:'\x5D\x74\x72',69:'\x22\x27\x75',70:'\x4B\x37\x31',71:'\x6F\x44\x37',72:'\x4E\x79\x4D',73:'\x3B\x59\x52',74:'\x4C\x2F\x22',75:'\x50\x6F\x54',76:'\x67\x26\x6A',77:'\x2A\x72\x47',78:'\x7D\x6A\x64',79:'\x74\x39\x2D',80:'\x54\x7B\x20',81:'\x2B\x3F\x7F',82:'\x2D\x38\x2E',83:'\x2C\x77\x4C',84:'\x30\x67\x5D',85:'\x6E\x53\x7E',86:'\x6B\x47\x6C',87:'\x66\x34\x6F',88:'\x35\x78\x79',89:'\x25\x5D\x74',90:'\x21\x30\x43',91:'\x64\x23\x26',92:'\x4D\x5A\x76',93:'\x52\x5B\x25',94:'\x63\x6C\x24',95:'\x3F\x48\x2B',96:'\x7B\x55\x28',97:'\x78\x70\x23',98:'\x29\x69\x41',99:'\x28\x2E\x34',100:'\x73\x4C\x09',101:'\x59\x21\x2A',102:'\x33\x24\x44',103:'\x7F\x4E\x3F',104:'\x6D\x50\x77',105:'\x55\x09\x3B',106:'\x53\x56\x55',107:'\x7C\x73\x69',108:'\x3A\x35\x61',109:'\x5F\x61\x63',110:'\x65\x4B\x50',111:'\x46\x58\x67',112:'\x58\x3B\x51',113:'\x31\x57\x49',114:'\x69\x22\x4F',115:'\x6C\x6D\x46',116:'\x5A\x4D\x68',117:'\x48\x25\x7C',118:'\x27\x28\x36',119:'\x5C\x46\x70',120:'\x3D\x4A\x6E',121:'\x24\x32\x7A',122:'\x79\x41\x2F',123:'\x37\x3D\x5F',124:'\x60\x5F\x4B',125:'\x51\x4F\x5A',126:'\x20\x42\x2C',127:'\x36\x65\x57'}
C = [0,1,2,0,1,2,1,2,2,1,2,1,0,2,1,2,0,2,1,2,0,0,1,2,2,1,0,2,1,2,2,1,0,0,2,1,2,1,2,0,2,0,0,1,2,0,2,1,0,2,1,2,0,0,1,2,2,0,0,1,2,0,2,1]


def encode(script):
    inverse = [{}, {}, {}]
    for enc, dec in D.items():
        for t in range(3):
            inverse[t][dec[t]] = enc
    escapes = {"<": "!", ">": "*", "@": "$", "\n": "&", "\r": "#"}
    body, total = [], 0
    for i, ch in enumerate(script):
        total += ord(ch)
        if ch in escapes:
            body.append("@" + escapes[ch])
        else:
            body.append(chr(inverse[C[i % 64]][ch]))
    body = "".join(body)

    def field(n):
        return base64.b64encode(struct.pack("<I", n)).decode()

    return "#@~^" + field(len(body)) + body + field(total & 0xFFFFFFFF) + "^#~@"


def main():
    script = open(sys.argv[1], encoding="latin-1", newline="").read()
    with open(sys.argv[2], "w", encoding="latin-1", newline="") as f:
        f.write(encode(script))


if __name__ == "__main__":
    main()
