//! EA06 keeps its script as tokens; ClamAV writes them back out as text
//! (upper-cased names, one space after each token, numbers in hex) and
//! scans that text, so signatures written against it match only the
//! same spelling. This is that writer, token for token.
//!
//! The token stream: a little-endian line count, then tokens until that
//! many ends of line have been read. Each token is an opcode byte and,
//! for most, an operand: a 32-bit index into AutoIt's keyword or
//! built-in function list, a 32- or 64-bit integer, a double, or a
//! string (a 32-bit length in UTF-16 units, then the units XORed with
//! the length).

use std::io::Write;
use std::sync::LazyLock;

/// AutoIt's keywords by token index (index 0 is unused by AutoIt).
static KEYWORDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    "UNKNOWN_0 AND OR NOT IF THEN ELSE ELSEIF ENDIF WHILE WEND DO UNTIL
    FOR NEXT TO STEP IN EXITLOOP CONTINUELOOP SELECT CASE ENDSELECT SWITCH
    ENDSWITCH CONTINUECASE DIM REDIM LOCAL GLOBAL CONST STATIC FUNC ENDFUNC
    RETURN EXIT BYREF WITH ENDWITH TRUE FALSE DEFAULT NULL VOLATILE ENUM"
        .split_ascii_whitespace()
        .collect()
});

/// AutoIt's built-in functions by token index, in the alphabetical order
/// recent AutoIt releases number them (ClamAV names them from the same
/// list, whatever the version that compiled the script).
static FUNCTIONS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    "
    ABS ACOS ADLIBREGISTER ADLIBUNREGISTER ASC ASCW ASIN ASSIGN ATAN
    AUTOITSETOPTION AUTOITWINGETTITLE AUTOITWINSETTITLE BEEP BINARY
    BINARYLEN BINARYMID BINARYTOSTRING BITAND BITNOT BITOR BITROTATE
    BITSHIFT BITXOR BLOCKINPUT BREAK CALL CDTRAY CEILING CHR CHRW CLIPGET
    CLIPPUT CONSOLEREAD CONSOLEWRITE CONSOLEWRITEERROR CONTROLCLICK
    CONTROLCOMMAND CONTROLDISABLE CONTROLENABLE CONTROLFOCUS CONTROLGETFOCUS
    CONTROLGETHANDLE CONTROLGETPOS CONTROLGETTEXT CONTROLHIDE CONTROLLISTVIEW
    CONTROLMOVE CONTROLSEND CONTROLSETTEXT CONTROLSHOW CONTROLTREEVIEW
    COS DEC DIRCOPY DIRCREATE DIRGETSIZE DIRMOVE DIRREMOVE DLLCALL
    DLLCALLADDRESS DLLCALLBACKFREE DLLCALLBACKGETPTR DLLCALLBACKREGISTER
    DLLCLOSE DLLOPEN DLLSTRUCTCREATE DLLSTRUCTGETDATA DLLSTRUCTGETPTR
    DLLSTRUCTGETSIZE DLLSTRUCTSETDATA DRIVEGETDRIVE DRIVEGETFILESYSTEM
    DRIVEGETLABEL DRIVEGETSERIAL DRIVEGETTYPE DRIVEMAPADD DRIVEMAPDEL
    DRIVEMAPGET DRIVESETLABEL DRIVESPACEFREE DRIVESPACETOTAL DRIVESTATUS
    DUMMYSPEEDTEST ENVGET ENVSET ENVUPDATE EVAL EXECUTE EXP FILECHANGEDIR
    FILECLOSE FILECOPY FILECREATENTFSLINK FILECREATESHORTCUT FILEDELETE
    FILEEXISTS FILEFINDFIRSTFILE FILEFINDNEXTFILE FILEFLUSH FILEGETATTRIB
    FILEGETENCODING FILEGETLONGNAME FILEGETPOS FILEGETSHORTCUT FILEGETSHORTNAME
    FILEGETSIZE FILEGETTIME FILEGETVERSION FILEINSTALL FILEMOVE FILEOPEN
    FILEOPENDIALOG FILEREAD FILEREADLINE FILEREADTOARRAY FILERECYCLE
    FILERECYCLEEMPTY FILESAVEDIALOG FILESELECTFOLDER FILESETATTRIB
    FILESETEND FILESETPOS FILESETTIME FILEWRITE FILEWRITELINE FLOOR
    FTPSETPROXY FUNCNAME GUICREATE GUICTRLCREATEAVI GUICTRLCREATEBUTTON
    GUICTRLCREATECHECKBOX GUICTRLCREATECOMBO GUICTRLCREATECONTEXTMENU
    GUICTRLCREATEDATE GUICTRLCREATEDUMMY GUICTRLCREATEEDIT GUICTRLCREATEGRAPHIC
    GUICTRLCREATEGROUP GUICTRLCREATEICON GUICTRLCREATEINPUT GUICTRLCREATELABEL
    GUICTRLCREATELIST GUICTRLCREATELISTVIEW GUICTRLCREATELISTVIEWITEM
    GUICTRLCREATEMENU GUICTRLCREATEMENUITEM GUICTRLCREATEMONTHCAL
    GUICTRLCREATEOBJ GUICTRLCREATEPIC GUICTRLCREATEPROGRESS GUICTRLCREATERADIO
    GUICTRLCREATESLIDER GUICTRLCREATETAB GUICTRLCREATETABITEM
    GUICTRLCREATETREEVIEW GUICTRLCREATETREEVIEWITEM GUICTRLCREATEUPDOWN
    GUICTRLDELETE GUICTRLGETHANDLE GUICTRLGETSTATE GUICTRLREAD GUICTRLRECVMSG
    GUICTRLREGISTERLISTVIEWSORT GUICTRLSENDMSG GUICTRLSENDTODUMMY
    GUICTRLSETBKCOLOR GUICTRLSETCOLOR GUICTRLSETCURSOR GUICTRLSETDATA
    GUICTRLSETDEFBKCOLOR GUICTRLSETDEFCOLOR GUICTRLSETFONT GUICTRLSETGRAPHIC
    GUICTRLSETIMAGE GUICTRLSETLIMIT GUICTRLSETONEVENT GUICTRLSETPOS
    GUICTRLSETRESIZING GUICTRLSETSTATE GUICTRLSETSTYLE GUICTRLSETTIP
    GUIDELETE GUIGETCURSORINFO GUIGETMSG GUIGETSTYLE GUIREGISTERMSG
    GUISETACCELERATORS GUISETBKCOLOR GUISETCOORD GUISETCURSOR GUISETFONT
    GUISETHELP GUISETICON GUISETONEVENT GUISETSTATE GUISETSTYLE GUISTARTGROUP
    GUISWITCH HEX HOTKEYSET HTTPSETPROXY HTTPSETUSERAGENT HWND INETCLOSE
    INETGET INETGETINFO INETGETSIZE INETREAD INIDELETE INIREAD INIREADSECTION
    INIREADSECTIONNAMES INIRENAMESECTION INIWRITE INIWRITESECTION INPUTBOX
    INT ISADMIN ISARRAY ISBINARY ISBOOL ISDECLARED ISDLLSTRUCT ISFLOAT ISFUNC
    ISHWND ISINT ISKEYWORD ISMAP ISNUMBER ISOBJ ISPTR ISSTRING LOG MAPAPPEND
    MAPEXISTS MAPKEYS MAPREMOVE MEMGETSTATS MOD MOUSECLICK MOUSECLICKDRAG
    MOUSEDOWN MOUSEGETCURSOR MOUSEGETPOS MOUSEMOVE MOUSEUP MOUSEWHEEL
    MSGBOX NUMBER OBJCREATE OBJCREATEINTERFACE OBJEVENT OBJGET OBJNAME
    ONAUTOITEXITREGISTER ONAUTOITEXITUNREGISTER OPT PING PIXELCHECKSUM
    PIXELGETCOLOR PIXELSEARCH PROCESSCLOSE PROCESSEXISTS PROCESSGETSTATS
    PROCESSLIST PROCESSSETPRIORITY PROCESSWAIT PROCESSWAITCLOSE PROGRESSOFF
    PROGRESSON PROGRESSSET PTR RANDOM REGDELETE REGENUMKEY REGENUMVAL REGREAD
    REGWRITE ROUND RUN RUNAS RUNASWAIT RUNWAIT SEND SENDKEEPACTIVE SETERROR
    SETEXTENDED SHELLEXECUTE SHELLEXECUTEWAIT SHUTDOWN SIN SLEEP SOUNDPLAY
    SOUNDSETWAVEVOLUME SPLASHIMAGEON SPLASHOFF SPLASHTEXTON SQRT SRANDOM
    STATUSBARGETTEXT STDERRREAD STDINWRITE STDIOCLOSE STDOUTREAD STRING
    STRINGADDCR STRINGCOMPARE STRINGFORMAT STRINGFROMASCIIARRAY STRINGINSTR
    STRINGISALNUM STRINGISALPHA STRINGISASCII STRINGISDIGIT STRINGISFLOAT
    STRINGISINT STRINGISLOWER STRINGISSPACE STRINGISUPPER STRINGISXDIGIT
    STRINGLEFT STRINGLEN STRINGLOWER STRINGMID STRINGREGEXP STRINGREGEXPREPLACE
    STRINGREPLACE STRINGREVERSE STRINGRIGHT STRINGSPLIT STRINGSTRIPCR
    STRINGSTRIPWS STRINGTOASCIIARRAY STRINGTOBINARY STRINGTRIMLEFT
    STRINGTRIMRIGHT STRINGUPPER TAN TCPACCEPT TCPCLOSESOCKET TCPCONNECT
    TCPLISTEN TCPNAMETOIP TCPRECV TCPSEND TCPSHUTDOWN TCPSTARTUP TIMERDIFF
    TIMERINIT TOOLTIP TRAYCREATEITEM TRAYCREATEMENU TRAYGETMSG TRAYITEMDELETE
    TRAYITEMGETHANDLE TRAYITEMGETSTATE TRAYITEMGETTEXT TRAYITEMSETONEVENT
    TRAYITEMSETSTATE TRAYITEMSETTEXT TRAYSETCLICK TRAYSETICON TRAYSETONEVENT
    TRAYSETPAUSEICON TRAYSETSTATE TRAYSETTOOLTIP TRAYTIP UBOUND UDPBIND
    UDPCLOSESOCKET UDPOPEN UDPRECV UDPSEND UDPSHUTDOWN UDPSTARTUP VARGETTYPE
    WINACTIVATE WINACTIVE WINCLOSE WINEXISTS WINFLASH WINGETCARETPOS
    WINGETCLASSLIST WINGETCLIENTSIZE WINGETHANDLE WINGETPOS WINGETPROCESS
    WINGETSTATE WINGETTEXT WINGETTITLE WINKILL WINLIST WINMENUSELECTITEM
    WINMINIMIZEALL WINMINIMIZEALLUNDO WINMOVE WINSETONTOP WINSETSTATE
    WINSETTITLE WINSETTRANS WINWAIT WINWAITACTIVE WINWAITCLOSE WINWAITNOTACTIVE"
        .split_ascii_whitespace()
        .collect()
});

/// The operators, opcodes 0x40 to 0x58.
const OPERATORS: [&str; 25] = [
    ",", "=", ">", "<", "<>", ">=", "<=", "(", ")", "+", "-", "/", "*", "&",
    "[", "]", "==", "^", "+=", "-=", "/=", "*=", "&=", "?", ":",
];

/// What the string-like opcodes 0x30 to 0x37 put before their text:
/// a macro's `@`, a variable's `$`, an object member's `.`, a string's
/// opening quote.
const PREFIXES: [Option<u8>; 8] =
    [None, None, Some(b'@'), Some(b'$'), None, Some(b'.'), Some(b'"'), None];

/// How the text came out.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum End {
    /// Every line the count promised, or the tokens ran out.
    Whole,
    /// A token was cut short or unknown: the text is what came before.
    Damaged,
    /// The text grew past the limit; nothing is scanned.
    TooLarge,
}

fn le32(d: &[u8], at: usize) -> u32 {
    d.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// The script `tokens` (decompressed) as text, up to `limit` bytes.
///
/// The bounds are ClamAV's, off by one included: an operand must be
/// followed by at least one more byte, so a script whose last token is
/// an operand ends damaged there, as in ClamAV.
pub(super) fn decompile(tokens: &[u8], limit: usize) -> (Vec<u8>, End) {
    let size = tokens.len();
    let mut lines = le32(tokens, 0);
    let mut at = 4;
    let mut out: Vec<u8> = Vec::with_capacity(size.min(limit));
    // Whether `n` operand bytes follow `at` with at least one to spare.
    let fits = |at: usize, n: usize| size >= n && at < size - n;
    while lines > 0 && at < size {
        if out.len() > limit {
            return (out, End::TooLarge);
        }
        let op = tokens[at];
        at += 1;
        match op {
            0 | 1 => {
                if !fits(at, 4) {
                    return (out, End::Damaged);
                }
                let list = if op == 0 { &KEYWORDS } else { &FUNCTIONS };
                let Some(name) = list.get(le32(tokens, at) as usize) else {
                    return (out, End::Damaged);
                };
                at += 4;
                out.extend_from_slice(name.as_bytes());
                out.push(b' ');
            }
            5 => {
                if !fits(at, 4) {
                    return (out, End::Damaged);
                }
                let _ = write!(out, "0x{:08x} ", le32(tokens, at));
                at += 4;
            }
            0x10 | 0x20 => {
                if !fits(at, 8) {
                    return (out, End::Damaged);
                }
                let v = u64::from(le32(tokens, at))
                    | u64::from(le32(tokens, at + 4)) << 32;
                if op == 0x10 {
                    let _ = write!(out, "0x{v:016x} ");
                } else {
                    out.extend_from_slice(c_g(f64::from_bits(v)).as_bytes());
                    out.push(b' ');
                }
                at += 8;
            }
            0x30..=0x37 => {
                if !fits(at, 4) {
                    return (out, End::Damaged);
                }
                let chars = le32(tokens, at);
                at += 4;
                // A length past the script cannot be read; ClamAV's own
                // arithmetic wraps past 2^31 units and fails later.
                let units = chars as usize;
                if chars > i32::MAX as u32 || !fits(at, units * 2) {
                    return (out, End::Damaged);
                }
                if let Some(p) = PREFIXES[usize::from(op - 0x30)] {
                    out.push(p);
                }
                if units > 0 {
                    let mut text = tokens[at..at + units * 2].to_vec();
                    for unit in text.chunks_exact_mut(2) {
                        unit[0] ^= chars as u8;
                        unit[1] ^= (chars >> 8) as u8;
                    }
                    narrow(&mut text);
                    out.extend_from_slice(&text[..units]);
                    at += units * 2;
                }
                if op == 0x36 {
                    out.push(b'"');
                }
                // A user function's name is followed by its `(` directly.
                if op != 0x34 {
                    out.push(b' ');
                }
            }
            0x40..=0x58 => {
                out.extend_from_slice(
                    OPERATORS[usize::from(op - 0x40)].as_bytes(),
                );
                out.push(b' ');
            }
            0x7f => {
                lines -= 1;
                out.push(b'\n');
            }
            _ => return (out, End::Damaged),
        }
    }
    if out.len() > limit {
        return (out, End::TooLarge);
    }
    (out, End::Whole)
}

/// ClamAV's guess at UTF-16LE, narrowed in place to its low bytes: text
/// behind a `FF FE` mark, or whose first ten units are mostly ASCII.
/// Returns the narrowed length; other text is left as it is (and still
/// copied by its unit count, as ClamAV does).
pub(super) fn narrow(buf: &mut [u8]) -> usize {
    let len = buf.len();
    if len < 2 {
        return len;
    }
    let (from, n) =
        if len > 4 && buf[0] == 0xff && buf[1] == 0xfe && buf[2] != 0 {
            (2, len - 2)
        } else {
            let probe = if len > 20 { 20 } else { len & !1 };
            let ascii = buf[..probe]
                .chunks_exact(2)
                .filter(|u| u[0] != 0 && u[1] == 0)
                .count();
            if ascii * 4 < probe {
                return len;
            }
            (0, len)
        };
    for (to, i) in (0..n).step_by(2).enumerate() {
        buf[to] = buf[from + i];
    }
    n >> 1
}

/// C's `%g`: six significant digits, the shorter of fixed and
/// exponent forms as C chooses them, trailing zeros dropped.
pub(super) fn c_g(v: f64) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf" } else { "inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // The exponent C decides by is the one after rounding to six digits.
    let e = format!("{v:.5e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let x: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&x) {
        let sign = if x < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim_zeros(mantissa), x.unsigned_abs())
    } else {
        trim_zeros(&format!("{v:.*}", (5 - x) as usize)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}
