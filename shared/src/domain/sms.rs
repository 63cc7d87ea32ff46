//! How long an SMS text is, as a phone network counts it: GSM-7 when every character is in
//! the GSM 03.38 alphabet (its extension table's characters take two septets), UCS-2
//! otherwise (UTF-16 code units). One message holds 160 septets or 70 UCS-2 units; a longer
//! text is sent in parts of 153 or 67 (each part carries a header).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "GSM-7",
            Encoding::Ucs2 => "UCS-2",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsLength {
    /// Characters as a reader counts them (Unicode scalar values).
    pub characters: usize,
    pub encoding: Encoding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    pub segments: usize,
}

const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1b}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const EXTENSION: &str = "^{}\\[~]|€\u{c}";

pub fn length(text: &str) -> SmsLength {
    let characters = text.chars().count();
    let septets: Option<usize> = text
        .chars()
        .map(|c| {
            if BASIC.contains(c) {
                Some(1)
            } else if EXTENSION.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .sum();
    let (encoding, units, single, part) = match septets {
        Some(septets) => (Encoding::Gsm7, septets, 160, 153),
        None => (Encoding::Ucs2, text.encode_utf16().count(), 70, 67),
    };
    let segments = match units {
        0 => 0,
        n if n <= single => 1,
        n => n.div_ceil(part),
    };
    SmsLength { characters, encoding, units, segments }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_fits_160_then_parts_of_153() {
        let text = "a".repeat(160);
        assert_eq!(length(&text), SmsLength { characters: 160, encoding: Encoding::Gsm7, units: 160, segments: 1 });
        assert_eq!(length(&"a".repeat(161)).segments, 2);
        assert_eq!(length(&"a".repeat(306)).segments, 2);
        assert_eq!(length(&"a".repeat(307)).segments, 3);
        assert_eq!(length("").segments, 0);
    }

    #[test]
    fn extension_characters_take_two_septets() {
        let text = "€".repeat(80);
        let sms = length(&text);
        assert_eq!((sms.encoding, sms.characters, sms.units, sms.segments), (Encoding::Gsm7, 80, 160, 1));
        assert_eq!(length(&"€".repeat(81)).segments, 2);
    }

    #[test]
    fn one_character_outside_gsm7_makes_it_ucs2() {
        let sms = length("Kode Anda 123456 ✓");
        assert_eq!(sms.encoding, Encoding::Ucs2);
        assert_eq!(length(&"é".repeat(70)).encoding, Encoding::Gsm7);
        assert_eq!(length(&"ł".repeat(70)).segments, 1);
        assert_eq!(length(&"ł".repeat(71)).segments, 2);
        assert_eq!(length(&"ł".repeat(134)).segments, 2);
        assert_eq!(length(&"ł".repeat(135)).segments, 3);
        // An emoji is two UTF-16 units.
        let emoji = length("🙂");
        assert_eq!((emoji.characters, emoji.units), (1, 2));
    }
}
