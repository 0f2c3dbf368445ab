//! ClamAV's names for file types, both ways: what `.cdb`, `.ftm` and
//! `.ldb` lines may name, and the name of each type this engine tells.

use super::FileType;

impl FileType {
    /// ClamAV's type name, used by `.ldb` `Container:` conditions.
    pub(crate) fn clamav_name(self) -> &'static str {
        match self {
            FileType::Mail => "CL_TYPE_MAIL",
            FileType::Mhtml => "CL_TYPE_MHTML",
            FileType::Zip => "CL_TYPE_ZIP",
            FileType::Gzip => "CL_TYPE_GZ",
            FileType::Bzip2 => "CL_TYPE_BZ",
            FileType::PosixTar => "CL_TYPE_POSIX_TAR",
            FileType::OldTar => "CL_TYPE_OLD_TAR",
            FileType::Text => "CL_TYPE_TEXT_ASCII",
            FileType::Html => "CL_TYPE_HTML",
            FileType::HtmlUtf16 => "CL_TYPE_HTML_UTF16",
            FileType::Binary => "CL_TYPE_BINARY_DATA",
            FileType::Uuencoded => "CL_TYPE_UUENCODED",
            FileType::ScrEnc => "CL_TYPE_SCRENC",
            FileType::SevenZ => "CL_TYPE_7Z",
            FileType::Arj => "CL_TYPE_ARJ",
            FileType::Lha => "CL_TYPE_LHA_LZH",
            FileType::Alz => "CL_TYPE_ALZ",
            FileType::Egg => "CL_TYPE_EGG",
            FileType::Iso9660 => "CL_TYPE_ISO9660",
            FileType::Udf => "CL_TYPE_UDF",
            FileType::OneNote => "CL_TYPE_ONENOTE",
            FileType::BinHex => "CL_TYPE_BINHEX",
            FileType::CpioCrc => "CL_TYPE_CPIO_CRC",
            FileType::CpioNewc => "CL_TYPE_CPIO_NEWC",
            FileType::CpioOdc => "CL_TYPE_CPIO_ODC",
            FileType::CpioOld => "CL_TYPE_CPIO_OLD",
            FileType::Elf => "CL_TYPE_ELF",
            FileType::Gif => "CL_TYPE_GIF",
            FileType::Graphics => "CL_TYPE_GRAPHICS",
            FileType::Java => "CL_TYPE_JAVA",
            FileType::Jpeg => "CL_TYPE_JPEG",
            FileType::MachO => "CL_TYPE_MACHO",
            FileType::MachOUniversal => "CL_TYPE_MACHO_UNIBIN",
            FileType::Cab => "CL_TYPE_MSCAB",
            FileType::Chm => "CL_TYPE_MSCHM",
            FileType::Pe => "CL_TYPE_MSEXE",
            FileType::Ole2 => "CL_TYPE_MSOLE2",
            FileType::Szdd => "CL_TYPE_MSSZDD",
            FileType::Pdf => "CL_TYPE_PDF",
            FileType::Png => "CL_TYPE_PNG",
            FileType::Rar => "CL_TYPE_RAR",
            FileType::Rtf => "CL_TYPE_RTF",
            FileType::Swf => "CL_TYPE_SWF",
            FileType::Tiff => "CL_TYPE_TIFF",
            FileType::Tnef => "CL_TYPE_TNEF",
            FileType::Xz => "CL_TYPE_XZ",
            FileType::OoxmlWord => "CL_TYPE_OOXML_WORD",
            FileType::OoxmlXl => "CL_TYPE_OOXML_XL",
            FileType::OoxmlPpt => "CL_TYPE_OOXML_PPT",
            FileType::OoxmlHwp => "CL_TYPE_OOXML_HWP",
        }
    }
}

/// Every type name ClamAV 1.4 knows (`cli_ftcode`), which `.cdb` and
/// `.ftm` lines may name.
pub(crate) const CLAMAV_TYPES: &[&str] = &[
    "CL_TYPE_7Z",
    "CL_TYPE_7ZSFX",
    "CL_TYPE_ALZ",
    "CL_TYPE_ANY",
    "CL_TYPE_APM",
    "CL_TYPE_ARJ",
    "CL_TYPE_ARJSFX",
    "CL_TYPE_AUTOIT",
    "CL_TYPE_BINARY_DATA",
    "CL_TYPE_BINHEX",
    "CL_TYPE_BZ",
    "CL_TYPE_CABSFX",
    "CL_TYPE_CPIO_CRC",
    "CL_TYPE_CPIO_NEWC",
    "CL_TYPE_CPIO_ODC",
    "CL_TYPE_CPIO_OLD",
    "CL_TYPE_CRYPTFF",
    "CL_TYPE_DMG",
    "CL_TYPE_EGG",
    "CL_TYPE_EGGSFX",
    "CL_TYPE_ELF",
    "CL_TYPE_GIF",
    "CL_TYPE_GPT",
    "CL_TYPE_GRAPHICS",
    "CL_TYPE_GZ",
    "CL_TYPE_HTML",
    "CL_TYPE_HTML_UTF16",
    "CL_TYPE_HWP3",
    "CL_TYPE_HWPOLE2",
    "CL_TYPE_IGNORED",
    "CL_TYPE_INTERNAL",
    "CL_TYPE_ISHIELD_MSI",
    "CL_TYPE_ISO9660",
    "CL_TYPE_JAVA",
    "CL_TYPE_JPEG",
    "CL_TYPE_LHA_LZH",
    "CL_TYPE_LNK",
    "CL_TYPE_MACHO",
    "CL_TYPE_MACHO_UNIBIN",
    "CL_TYPE_MAIL",
    "CL_TYPE_MBR",
    "CL_TYPE_MHTML",
    "CL_TYPE_MSCAB",
    "CL_TYPE_MSCHM",
    "CL_TYPE_MSEXE",
    "CL_TYPE_MSOLE2",
    "CL_TYPE_MSSZDD",
    "CL_TYPE_NULSFT",
    "CL_TYPE_OLD_TAR",
    "CL_TYPE_ONENOTE",
    "CL_TYPE_OOXML_HWP",
    "CL_TYPE_OOXML_PPT",
    "CL_TYPE_OOXML_WORD",
    "CL_TYPE_OOXML_XL",
    "CL_TYPE_PART_ANY",
    "CL_TYPE_PART_HFSPLUS",
    "CL_TYPE_PDF",
    "CL_TYPE_PNG",
    "CL_TYPE_POSIX_TAR",
    "CL_TYPE_PS",
    "CL_TYPE_PYTHON_COMPILED",
    "CL_TYPE_RAR",
    "CL_TYPE_RARSFX",
    "CL_TYPE_RIFF",
    "CL_TYPE_RTF",
    "CL_TYPE_SCRENC",
    "CL_TYPE_SCRIPT",
    "CL_TYPE_SFX",
    "CL_TYPE_SIS",
    "CL_TYPE_SWF",
    "CL_TYPE_TEXT_ASCII",
    "CL_TYPE_TEXT_UTF16BE",
    "CL_TYPE_TEXT_UTF16LE",
    "CL_TYPE_TEXT_UTF8",
    "CL_TYPE_TIFF",
    "CL_TYPE_TNEF",
    "CL_TYPE_UDF",
    "CL_TYPE_UUENCODED",
    "CL_TYPE_XAR",
    "CL_TYPE_XDP",
    "CL_TYPE_XML_HWP",
    "CL_TYPE_XML_WORD",
    "CL_TYPE_XML_XL",
    "CL_TYPE_XZ",
    "CL_TYPE_ZIP",
    "CL_TYPE_ZIPSFX",
];

/// Every type this engine tells apart, for reading ClamAV's names.
const ALL: [FileType; 50] = [
    FileType::Mail,
    FileType::Mhtml,
    FileType::Zip,
    FileType::Gzip,
    FileType::Bzip2,
    FileType::PosixTar,
    FileType::OldTar,
    FileType::Text,
    FileType::Html,
    FileType::HtmlUtf16,
    FileType::Binary,
    FileType::Uuencoded,
    FileType::ScrEnc,
    FileType::SevenZ,
    FileType::Arj,
    FileType::Lha,
    FileType::Alz,
    FileType::Egg,
    FileType::Iso9660,
    FileType::Udf,
    FileType::OneNote,
    FileType::BinHex,
    FileType::CpioCrc,
    FileType::CpioNewc,
    FileType::CpioOdc,
    FileType::CpioOld,
    FileType::Elf,
    FileType::Gif,
    FileType::Graphics,
    FileType::Java,
    FileType::Jpeg,
    FileType::MachO,
    FileType::MachOUniversal,
    FileType::Cab,
    FileType::Chm,
    FileType::Pe,
    FileType::Ole2,
    FileType::Szdd,
    FileType::Pdf,
    FileType::Png,
    FileType::Rar,
    FileType::Rtf,
    FileType::Swf,
    FileType::Tiff,
    FileType::Tnef,
    FileType::Xz,
    FileType::OoxmlWord,
    FileType::OoxmlXl,
    FileType::OoxmlPpt,
    FileType::OoxmlHwp,
];

impl FileType {
    /// The type ClamAV's name stands for, if this engine tells it apart
    /// (the text encodings are all text here).
    pub(crate) fn from_clamav_name(name: &str) -> Option<FileType> {
        match name {
            "CL_TYPE_TEXT_UTF8"
            | "CL_TYPE_TEXT_UTF16LE"
            | "CL_TYPE_TEXT_UTF16BE" => Some(FileType::Text),
            _ => ALL.into_iter().find(|t| t.clamav_name() == name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_is_named_and_read_back() {
        for t in ALL {
            assert!(CLAMAV_TYPES.contains(&t.clamav_name()), "{t:?}");
            assert_eq!(FileType::from_clamav_name(t.clamav_name()), Some(t));
        }
        assert_eq!(FileType::from_clamav_name("CL_TYPE_LNK"), None);
    }
}
