//! Which container walk opens each type, as the options allow.

use super::*;

impl Scanner<'_> {
    /// The container walk for a type, if the options open it.
    pub(super) fn unpacker(
        &self,
        kind: FileType,
        depth: u32,
    ) -> Option<Unpacker> {
        let (archives, mail) = (self.options.archives, self.options.mail);
        let (open, f): (bool, Unpacker) = match kind {
            // The repair alert is about the message being delivered, not
            // about mail found inside it.
            FileType::Mail | FileType::Mhtml if depth > 0 => {
                (mail, unpack::mail_within)
            }
            FileType::Mail | FileType::Mhtml => (mail, unpack::mail),
            FileType::Zip => (archives, unpack::zip),
            FileType::Gzip => (archives, unpack::gzip),
            FileType::Bzip2 => (archives, unpack::bzip2),
            FileType::PosixTar | FileType::OldTar => (archives, unpack::tar),
            FileType::Uuencoded => (true, unpack::uuencoded),
            // Not an archive: ClamAV decodes it whatever its settings.
            FileType::ScrEnc => (true, unpack::screnc),
            FileType::Html => (true, unpack::html_data_uris),
            FileType::Szdd => (archives, unpack::szdd),
            FileType::CpioNewc
            | FileType::CpioCrc
            | FileType::CpioOdc
            | FileType::CpioOld => (archives, unpack::cpio),
            // Office Open XML and HWP documents are zips to ClamAV too,
            // under their own type names.
            FileType::OoxmlWord
            | FileType::OoxmlXl
            | FileType::OoxmlPpt
            | FileType::OoxmlHwp => (archives, unpack::zip),
            FileType::SevenZ => (archives, unpack::sevenz),
            FileType::Xz => (archives, unpack::xz),
            FileType::Cab => (archives, unpack::cab),
            FileType::Rar => (archives, unpack::rar),
            FileType::Arj => (archives, unpack::arj),
            FileType::Lha => (archives, unpack::lha),
            FileType::Alz => (archives, unpack::alz),
            FileType::Egg => (archives, unpack::egg),
            FileType::Chm => (archives, unpack::chm),
            FileType::Sis => (archives, unpack::sis),
            FileType::Iso9660 => (archives, unpack::iso9660),
            FileType::Udf => (archives, unpack::udf),
            FileType::Mbr => (archives, unpack::mbr),
            FileType::Gpt => (archives, unpack::gpt),
            FileType::Apm => (archives, unpack::apm),
            FileType::Fat => (archives, unpack::fat),
            FileType::HfsPlus => (archives, unpack::hfsplus),
            FileType::Xar => (archives, unpack::xar),
            FileType::Dmg => (archives, unpack::dmg),
            FileType::OneNote => (archives, unpack::onenote),
            FileType::Ole2 => (archives, unpack::ole2),
            FileType::Hwp3 => (archives, unpack::hwp3),
            FileType::HwpOle2 => (archives, unpack::hwp_ole2),
            FileType::XmlHwp => (archives, unpack::hwpml),
            FileType::IshieldMsi => (archives, unpack::ishield_msi),
            FileType::Rtf => (archives, unpack::rtf),
            FileType::Pdf => (archives, unpack::pdf),
            FileType::Tnef => (mail, unpack::tnef),
            FileType::BinHex => (true, unpack::binhex),
            FileType::MachOUniversal => (true, unpack::macho_fat),
            // ClamAV writes out an uncompressed copy whatever its archive
            // settings.
            FileType::Swf => (true, unpack::swf),
            FileType::AutoIt => (archives, unpack::autoit),
            // Typed (for target types and container rules), not opened;
            // a UTF-16 page is read as HTML in `object`.
            FileType::Text
            | FileType::HtmlUtf16
            | FileType::Binary
            | FileType::Pe
            | FileType::Elf
            | FileType::MachO
            | FileType::Java
            | FileType::Png
            | FileType::Gif
            | FileType::Jpeg
            | FileType::Tiff
            | FileType::Graphics => return None,
        };
        open.then_some(f)
    }
}
