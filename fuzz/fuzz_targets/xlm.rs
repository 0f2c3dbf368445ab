//! Excel 4.0 (XLM) macro sheets: the input as the `Workbook` stream of
//! a compound file, after a record naming a macro sheet, through the
//! whole scan (the disassembly, the drawing group's pictures).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_workbook(data));
