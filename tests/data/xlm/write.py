#!/usr/bin/python3
"""Writes BIFF8 workbooks ([MS-XLS]) in an OLE2 compound file ([MS-CFB]),
with Excel 4.0 macro sheets, for the XLM tests. No Debian tool writes
macro sheets (LibreOffice is not installed, and does not write them
reliably), so this is ours, from the two specifications only.

Usage: write.py KIND OUT [MARKER]

KIND is one of
  macro     a worksheet and a macro sheet: EXEC, CALL, HALT, a Str token
            in UTF-16, numbers, references, a STRING record with MARKER
  hidden    the macro sheet very hidden, an Auto_Open name, and the
            formula's string (MARKER) in 8-bit characters
  plain     a worksheet only: no macro sheet, nothing for ClamAV to do
  picture   a worksheet and a drawing group holding one PNG whose text
            chunk holds MARKER (no macro sheet)
  cut       as macro, the stream ending inside the last record
  book      as macro, but a BIFF5-named stream "Book"
  big       as macro, with 200 more formulas (=EXEC("run000.exe") to
            "run199.exe") before the others: a text of several pages

Each workbook stream is at least 4096 bytes (a filler record before the
last EOF), so that it is kept in regular sectors as Excel keeps it.
"""
import struct
import sys
import zlib

SECTOR = 512
FREE, END, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def rec(kind, body):
    return struct.pack("<HH", kind, len(body)) + body


def bof(dt):
    # BIFF8, the substream type, build, year, history flags, version.
    return rec(0x0809, struct.pack("<HHHHII", 0x0600, dt, 0x0DBB, 0x07CC, 0, 0x06))


EOF = rec(0x000A, b"")


def boundsheet(offset, state, kind, name):
    return rec(0x0085, struct.pack("<IBBBB", offset, state, kind, len(name), 0) + name.encode())


def formula(row, col, tokens, value=b"\0" * 8):
    # The cell, its XF, its cached value, flags, chn, then the tokens.
    body = struct.pack("<HHH", row, col, 15) + value + struct.pack("<HI", 0, 0)
    return rec(0x0006, body + struct.pack("<H", len(tokens)) + tokens)


def string_result(text):
    # A STRING record: the string value of the formula before it.
    return rec(0x0207, struct.pack("<HB", len(text), 0) + text.encode("latin-1"))


def string_result_wide(text):
    return rec(0x0207, struct.pack("<HB", len(text), 1) + text.encode("utf-16-le"))


def ptg_str(text, wide=False):
    if wide:
        return struct.pack("<BBB", 0x17, len(text), 1) + text.encode("utf-16-le")
    return struct.pack("<BBB", 0x17, len(text), 0) + text.encode("latin-1")


def func(fid, cls=0x41):
    return struct.pack("<BH", cls, fid)


def func_var(fid, args, cls=0x42):
    return struct.pack("<BBH", cls, args, fid)


def ptg_int(v):
    return struct.pack("<BH", 0x1E, v)


def ptg_num(v):
    return struct.pack("<Bd", 0x1F, v)


def ptg_ref(row, col, cls=0x24):
    return struct.pack("<BHH", cls, row, col)


def ptg_area(r1, r2, c1, c2):
    return struct.pack("<BHHHH", 0x25, r1, r2, c1, c2)


def label(row, col, text):
    # BIFF8 LABEL (0x0204), an 8-bit string.
    return rec(0x0204, struct.pack("<HHHHB", row, col, 15, len(text), 0) + text.encode())


# Function numbers ([MS-XLS] Ftab and Cetab).
EXEC, CALL, HALT, REGISTER, RETURN, SUM, CHAR = 0x6E, 0x96, 0x36, 0x95, 0x37, 0x04, 0x6F
FORMULA_CMD = 0x8000 + 0x06


def macro_sheet(marker, wide_marker, many=0):
    cells = []
    for i in range(many):
        cells.append(formula(10 + i, 1, ptg_str("run%03d.exe" % i) + func_var(EXEC, 1)))
    # =EXEC("calc.exe") (UTF-16 string token)
    cells.append(formula(0, 0, ptg_str("calc.exe", wide=True) + func_var(EXEC, 1)))
    # =CALL("Kernel32","WinExec","JCJ","cmd /c "&CHAR(65),0)
    cells.append(
        formula(
            1,
            0,
            ptg_str("Kernel32")
            + ptg_str("WinExec")
            + ptg_str("JCJ")
            + ptg_str("cmd /c ")
            + ptg_int(65)
            + func(CHAR)
            + bytes([0x08])
            + ptg_int(0)
            + func_var(CALL, 5),
        )
    )
    # =SUM(R1C1:R3C2)+1.5, a reference and a negative integer
    cells.append(formula(2, 0, ptg_area(0, 2, 0, 1) + func_var(SUM, 1) + ptg_num(1.5) + bytes([0x03])))
    cells.append(formula(3, 0, ptg_ref(4, 1) + ptg_ref(0xC001, 0x0002, 0x44) + ptg_int(0xFFFE) + bytes([0x04])))
    # =FORMULA("x", R9C1): a command function
    cells.append(formula(4, 0, ptg_str("x") + ptg_ref(8, 0) + func_var(FORMULA_CMD, 2)))
    # A formula whose value is the marker, as a STRING record.
    cells.append(formula(5, 0, ptg_str(marker) + func_var(RETURN, 1), value=b"\0" * 6 + b"\xff\xff"))
    cells.append(string_result_wide(wide_marker) if wide_marker else string_result(marker))
    cells.append(formula(6, 0, func(HALT, 0x21)))
    return bof(0x0040) + b"".join(cells) + EOF


def worksheet(marker):
    return bof(0x0010) + label(0, 0, "nothing to see: " + marker) + EOF


def png(marker):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
        + chunk(b"tEXt", b"Comment\0" + marker.encode())
        + chunk(b"IDAT", zlib.compress(b"\0\0"))
        + chunk(b"IEND", b"")
    )


def art(ver, inst, kind, body):
    return struct.pack("<HHI", ver | inst << 4, kind, len(body)) + body


def drawing_group(marker):
    image = png(marker)
    blip = art(0, 0x6E0, 0xF01E, b"\x11" * 16 + b"\xff" + image)
    fbse = struct.pack("<BB16sHIIIBBBB", 6, 6, b"\x11" * 16, 0xFF, len(blip), 1, 0, 0, 0, 0, 0) + blip
    store = art(0xF, 1, 0xF001, art(2, 6, 0xF007, fbse))
    dgg = art(0, 0, 0xF006, struct.pack("<IIII", 1025, 2, 1, 1) + struct.pack("<II", 1, 1))
    return art(0xF, 0, 0xF000, dgg + store)


def workbook(kind, marker):
    sheets = [("Sheet1", 0, 0, worksheet(marker))]
    if kind in ("macro", "cut", "book", "big"):
        many = 200 if kind == "big" else 0
        sheets.append(("Macro1", 0, 1, macro_sheet(marker, None, many)))
    if kind == "hidden":
        sheets.append(("Macro1", 2, 1, macro_sheet(marker, marker)))
    globals_ = [bof(0x0005), rec(0x0042, struct.pack("<H", 1200))]
    if kind == "hidden":
        # A built-in Auto_Open name on the macro sheet's first cell.
        # flags (fBuiltin), chKey, cch, cce, reserved, itab, four reserved
        # bytes, fHighByte, the name (1: Auto_Open), then its formula.
        rgce = struct.pack("<BHHH", 0x3A, 0, 0, 0)
        name = struct.pack("<HBBHHH", 0x0020, 0, 1, len(rgce), 0, 0) + b"\0" * 4
        name += b"\x00\x01" + rgce
        globals_.append(rec(0x0018, name))
    if kind == "picture":
        group = drawing_group(marker)
        # Split over a CONTINUE record, as Excel splits a long group.
        half = len(group) // 2
        globals_.append(rec(0x00EB, group[:half]))
        globals_.append(rec(0x003C, group[half:]))
    sizes = sum(len(g) for g in globals_)
    bounds = []
    for name, state, sheet_kind, _ in sheets:
        bounds.append(boundsheet(0, state, sheet_kind, name))
    offset = sizes + sum(len(b) for b in bounds) + len(EOF)
    fixed = []
    for (name, state, sheet_kind, body) in sheets:
        fixed.append(boundsheet(offset, state, sheet_kind, name))
        offset += len(body)
    stream = b"".join(globals_) + b"".join(fixed) + EOF + b"".join(s[3] for s in sheets)
    if len(stream) < 4096 + 8:
        # A filler record (WRITEACCESS, spaces) before the end.
        stream += rec(0x005C, b" " * (4096 + 8 - len(stream)))
    stream += EOF
    if kind == "cut":
        stream += rec(0x0006, b"\0" * 40)[:30]
    return stream


def dir_entry(name, kind, left, right, child, start, size):
    n = (name + "\0").encode("utf-16-le") if name else b""
    return (
        n.ljust(64, b"\0")
        + struct.pack("<HBB3I", len(n), kind, 1, left, right, child)
        + b"\0" * 16
        + struct.pack("<I", 0)
        + b"\0" * 16
        + struct.pack("<IQ", start, size)
    )


def compound(name, stream):
    """A compound file of one big-block stream: FAT in sector 0, the
    directory in sector 1, the stream from sector 2."""
    count = (len(stream) + SECTOR - 1) // SECTOR
    total = 2 + count
    assert total <= SECTOR // 4, "one FAT sector"
    fat = [FATSECT, END] + [2 + i + 1 for i in range(count - 1)] + [END]
    fat += [FREE] * (SECTOR // 4 - len(fat))
    directory = (
        dir_entry("Root Entry", 5, NOSTREAM, NOSTREAM, 1, END, 0)
        + dir_entry(name, 2, NOSTREAM, NOSTREAM, NOSTREAM, 2, len(stream))
        + dir_entry("", 0, NOSTREAM, NOSTREAM, NOSTREAM, 0, 0) * 2
    )
    header = (
        bytes.fromhex("d0cf11e0a1b11ae1")
        + b"\0" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\0" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, END, 0, END, 0)
        + struct.pack("<I", 0)
        + struct.pack("<108I", *([FREE] * 108))
    )
    assert len(header) == SECTOR
    return header + struct.pack("<128I", *fat) + directory + stream.ljust(count * SECTOR, b"\0")


def main():
    kind, out = sys.argv[1:3]
    marker = sys.argv[3] if len(sys.argv) > 3 else "nod32 xlm marker 13579"
    name = "Book" if kind == "book" else "Workbook"
    with open(out, "wb") as f:
        f.write(compound(name, workbook(kind, marker)))


if __name__ == "__main__":
    main()
