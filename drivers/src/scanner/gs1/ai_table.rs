//! The GS1 Application Identifier table: every AI with the format of its data field.
//!
//! Source: GS1 General Specifications section 3 ("GS1 Application Identifier definitions") and
//! the machine-readable GS1 Barcode Syntax Dictionary published by GS1 (the 2024-06 release
//! plus its later corrections: AIs 00-8200 and 90-99, including (03), (7040)-(7041),
//! (7250)-(7259), (4330)-(4333) and (8030)). Each entry is transcribed from those facts:
//! the data field is a sequence of [`Part`]s (type and length, plus the content check the
//! specification attaches, such as a check digit or a date), and `predefined` marks the AIs of
//! the GS1 table of predefined-length element strings, which need no GS separator.
//!
//! Format notation (as in the specification): `N` digits, `X` GS1 character set 82, `Y` GS1
//! character set 39, `Z` the URI- and file-safe base64 set; `N6` exactly six, `X..20` one to
//! twenty; `[…]` an optional trailing part.

use std::fmt;

/// The characters a part may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cset {
    /// Digits 0-9.
    Numeric,
    /// GS1 AI encodable character set 82 (General Specifications figure 7.11-1).
    Cset82,
    /// GS1 AI encodable character set 39 (figure 7.11-2).
    Cset39,
    /// File- and URI-safe base64 (figure 7.11-3; RFC 4648 section 5).
    Cset64,
}

impl Cset {
    pub fn allows(self, b: u8) -> bool {
        match self {
            Cset::Numeric => b.is_ascii_digit(),
            Cset::Cset82 => {
                b.is_ascii_alphanumeric()
                    || matches!(
                        b,
                        b'!' | b'"'
                            | b'%'
                            | b'&'
                            | b'\''
                            | b'('
                            | b')'
                            | b'*'
                            | b'+'
                            | b','
                            | b'-'
                            | b'.'
                            | b'/'
                            | b':'
                            | b';'
                            | b'<'
                            | b'='
                            | b'>'
                            | b'?'
                            | b'_'
                    )
            }
            Cset::Cset39 => {
                b.is_ascii_digit() || b.is_ascii_uppercase() || matches!(b, b'#' | b'-' | b'/')
            }
            // '=' is padding; where it may stand is checked by `Check::Base64Padding`.
            Cset::Cset64 => b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='),
        }
    }

    fn letter(self) -> char {
        match self {
            Cset::Numeric => 'N',
            Cset::Cset82 => 'X',
            Cset::Cset39 => 'Y',
            Cset::Cset64 => 'Z',
        }
    }

    /// How an error message names the set.
    pub fn describe(self) -> &'static str {
        match self {
            Cset::Numeric => "numeric",
            Cset::Cset82 => "GS1 character set 82",
            Cset::Cset39 => "GS1 character set 39",
            Cset::Cset64 => "GS1 character set 64 (base64url)",
        }
    }
}

/// A content check on one part (the specification's "linters"; only those listed are applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    None,
    /// Last digit is the GS1 mod-10 check digit of the others.
    CheckDigit,
    /// `YYMMDD`; `DD = 00` means the last day of the month.
    DateDay0,
    /// `YYMMDD` with a real day.
    Date,
    /// `YYYYMMDD`.
    LongDate,
    /// `HH` 00-23.
    Hour,
    /// `MI` 00-59.
    Minute,
    /// `SS` 00-59.
    Second,
    /// `HHMI`.
    HourMinute,
    /// `0` or `1`.
    YesNo,
    /// The single character `-` (negative temperature).
    Hyphen,
    /// The single digit `0`.
    Zero,
    /// Not all zeros.
    NonZero,
    /// Roll winding direction: `0`, `1` or `9`.
    Winding,
    /// `PPTT`: piece number PP of TT pieces, 1 ≤ PP ≤ TT.
    PieceOfTotal,
    /// `=` padding only at the end, at most two.
    Base64Padding,
}

/// One component of an AI's data field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    pub cset: Cset,
    pub min: u8,
    pub max: u8,
    /// Optional trailing part: may be left out once the data is exhausted.
    pub optional: bool,
    pub check: Check,
}

impl Part {
    pub fn is_fixed(&self) -> bool {
        self.min == self.max
    }

    const fn check(self, check: Check) -> Part {
        Part { check, ..self }
    }

    const fn opt(self) -> Part {
        Part {
            optional: true,
            ..self
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (open, close) = if self.optional { ("[", "]") } else { ("", "") };
        if self.is_fixed() {
            write!(f, "{open}{}{}{close}", self.cset.letter(), self.max)
        } else {
            write!(f, "{open}{}..{}{close}", self.cset.letter(), self.max)
        }
    }
}

/// What the value means beyond its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Plain,
    /// The last part is a number whose decimal point sits as many digits from the right as the
    /// AI's last digit says (trade measures 310n-369n, amounts 390n/392n, 394n, 395n).
    Decimal,
    /// As `Decimal`, after a three-digit ISO 4217 currency code (391n, 393n).
    DecimalWithCurrency,
}

/// One AI, or a family of AIs that share everything but their last digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AiDef {
    /// The AI; for a family, the digits before the last one (`"310"` for 3100-3105).
    pub ai: &'static str,
    /// For a family: the range of the last digit (for decimal AIs, the decimals).
    pub last: Option<(u8, u8)>,
    /// In the table of predefined-length element strings: no GS separator follows.
    pub predefined: bool,
    pub parts: &'static [Part],
    pub kind: Kind,
    /// Data title as in the specification.
    pub title: &'static str,
}

impl AiDef {
    /// Length of the AI itself.
    pub fn ai_len(&self) -> usize {
        self.ai.len() + usize::from(self.last.is_some())
    }

    /// Whether `ai` (all digits of it) is this AI or a member of this family.
    pub fn matches(&self, ai: &[u8]) -> bool {
        match self.last {
            None => ai == self.ai.as_bytes(),
            Some((lo, hi)) => match ai.split_last() {
                Some((last, head)) => {
                    head == self.ai.as_bytes()
                        && last.is_ascii_digit()
                        && (lo..=hi).contains(&(last - b'0'))
                }
                None => false,
            },
        }
    }

    /// The data field's length when every part is fixed and mandatory.
    pub fn fixed_len(&self) -> Option<usize> {
        self.parts
            .iter()
            .all(|p| p.is_fixed() && !p.optional)
            .then(|| self.parts.iter().map(|p| usize::from(p.max)).sum())
    }

    /// The format in the specification's notation, such as `N13 [X..17]`.
    pub fn format(&self) -> String {
        let parts: Vec<String> = self.parts.iter().map(Part::to_string).collect();
        parts.join(" ")
    }

    /// Every AI this entry stands for (one, or each member of the family).
    pub fn ais(&self) -> Vec<String> {
        match self.last {
            None => vec![self.ai.to_string()],
            Some((lo, hi)) => (lo..=hi).map(|d| format!("{}{d}", self.ai)).collect(),
        }
    }
}

/// Total length (AI + data) of the element strings of predefined length, by the first two
/// digits of the AI (GS1 General Specifications section 7.8, the figure of element strings
/// with predefined length; figure 7.8.4-2 in Release 18, renumbered since). Prefixes 04, 14,
/// 18 and 19 are reserved there: they have a predefined length but no AI is assigned yet.
pub fn predefined_length(prefix: &[u8]) -> Option<usize> {
    Some(match prefix {
        b"00" => 20,
        b"01" | b"02" | b"03" => 16,
        b"04" => 18,
        b"11" | b"12" | b"13" | b"14" | b"15" | b"16" | b"17" | b"18" | b"19" => 8,
        b"20" => 4,
        b"31" | b"32" | b"33" | b"34" | b"35" | b"36" => 10,
        b"41" => 16,
        _ => return None,
    })
}

/// The entry for the AI at the front of `data` (AIs are two to four digits and no AI is a
/// prefix of another, so the first match by length is the AI).
pub fn lookup_prefix(data: &[u8]) -> Option<&'static AiDef> {
    (2..=4.min(data.len())).find_map(|len| lookup(&data[..len]))
}

/// The entry for exactly `ai`.
pub fn lookup(ai: &[u8]) -> Option<&'static AiDef> {
    AIS.iter().find(|d| d.ai_len() == ai.len() && d.matches(ai))
}

const fn n(len: u8) -> Part {
    Part {
        cset: Cset::Numeric,
        min: len,
        max: len,
        optional: false,
        check: Check::None,
    }
}

const fn nv(max: u8) -> Part {
    Part { min: 1, ..n(max) }
}

const fn x(len: u8) -> Part {
    Part {
        cset: Cset::Cset82,
        ..n(len)
    }
}

const fn xv(max: u8) -> Part {
    Part { min: 1, ..x(max) }
}

const fn yv(max: u8) -> Part {
    Part {
        cset: Cset::Cset39,
        ..nv(max)
    }
}

const fn zv(max: u8) -> Part {
    Part {
        cset: Cset::Cset64,
        ..nv(max)
    }
    .check(Check::Base64Padding)
}

/// An AI of predefined length (no separator needed).
const fn pre(ai: &'static str, parts: &'static [Part], title: &'static str) -> AiDef {
    AiDef {
        ai,
        last: None,
        predefined: true,
        parts,
        kind: Kind::Plain,
        title,
    }
}

/// An AI that needs a GS separator unless it ends the data.
const fn sep(ai: &'static str, parts: &'static [Part], title: &'static str) -> AiDef {
    AiDef {
        predefined: false,
        ..pre(ai, parts, title)
    }
}

/// A family of AIs `ai0`…`ai9` (last digit `lo..=hi`) that need a separator.
const fn sep_family(
    ai: &'static str,
    lo: u8,
    hi: u8,
    parts: &'static [Part],
    kind: Kind,
    title: &'static str,
) -> AiDef {
    AiDef {
        last: Some((lo, hi)),
        kind,
        ..sep(ai, parts, title)
    }
}

/// A trade-measure family 3xx0-3xx5: six digits, the last AI digit places the decimal point.
const fn measure(ai: &'static str, title: &'static str) -> AiDef {
    AiDef {
        predefined: true,
        ..sep_family(ai, 0, 5, N6, Kind::Decimal, title)
    }
}

const N6: &[Part] = &[n(6)];
const N13_CSUM: &[Part] = &[n(13).check(Check::CheckDigit)];
const N14_CSUM: &[Part] = &[n(14).check(Check::CheckDigit)];
const N18_CSUM: &[Part] = &[n(18).check(Check::CheckDigit)];
const DATE_DAY0: &[Part] = &[n(6).check(Check::DateDay0)];
const DATE: &[Part] = &[n(6).check(Check::Date)];
const DATE_DAY0_TIME: &[Part] = &[n(6).check(Check::DateDay0), n(4).check(Check::HourMinute)];
const DATE_TIME: &[Part] = &[n(6).check(Check::Date), n(4).check(Check::HourMinute)];
const COUNTRY: &[Part] = &[n(3)];
const COUNTRIES: &[Part] = &[n(3), n(3).opt(), n(3).opt(), n(3).opt(), n(3).opt()];
const YES_NO: &[Part] = &[n(1).check(Check::YesNo)];
const TEMPERATURE: &[Part] = &[n(6), x(1).check(Check::Hyphen).opt()];
const PROCESSOR: &[Part] = &[n(3), xv(27)];
const CERT: &[Part] = &[x(2), xv(28)];
const ITIP: &[Part] = &[
    n(14).check(Check::CheckDigit),
    n(4).check(Check::PieceOfTotal),
];
const X2: &[Part] = &[x(2)];
const X3: &[Part] = &[x(3)];
const XV2: &[Part] = &[xv(2)];
const XV3: &[Part] = &[xv(3)];
const XV4: &[Part] = &[xv(4)];
const XV10: &[Part] = &[xv(10)];
const XV12: &[Part] = &[xv(12)];
const XV20: &[Part] = &[xv(20)];
const XV25: &[Part] = &[xv(25)];
const XV28: &[Part] = &[xv(28)];
const XV30: &[Part] = &[xv(30)];
const XV34: &[Part] = &[xv(34)];
const XV35: &[Part] = &[xv(35)];
const XV40: &[Part] = &[xv(40)];
const XV50: &[Part] = &[xv(50)];
const XV70: &[Part] = &[xv(70)];
const XV90: &[Part] = &[xv(90)];
const NV4: &[Part] = &[nv(4)];
const NV6: &[Part] = &[nv(6)];
const NV8: &[Part] = &[nv(8)];
const NV10: &[Part] = &[nv(10)];
const NV12: &[Part] = &[nv(12)];
const NV15: &[Part] = &[nv(15)];
const CURRENCY_NV15: &[Part] = &[n(3), nv(15)];

/// The AI table, in lexical order of AI.
pub static AIS: &[AiDef] = &[
    pre("00", N18_CSUM, "SSCC"),
    pre("01", N14_CSUM, "GTIN"),
    pre("02", N14_CSUM, "CONTENT"),
    pre("03", N14_CSUM, "MTO GTIN"),
    sep("10", XV20, "BATCH/LOT"),
    pre("11", DATE_DAY0, "PROD DATE"),
    pre("12", DATE_DAY0, "DUE DATE"),
    pre("13", DATE_DAY0, "PACK DATE"),
    pre("15", DATE_DAY0, "BEST BEFORE or BEST BY"),
    pre("16", DATE_DAY0, "SELL BY"),
    pre("17", DATE_DAY0, "USE BY or EXPIRY"),
    pre("20", &[n(2)], "VARIANT"),
    sep("21", XV20, "SERIAL"),
    sep("22", XV20, "CPV"),
    sep("235", XV28, "TPX"),
    sep("240", XV30, "ADDITIONAL ID"),
    sep("241", XV30, "CUST. PART No."),
    sep("242", NV6, "MTO VARIANT"),
    sep("243", XV20, "PCN"),
    sep("250", XV30, "SECONDARY SERIAL"),
    sep("251", XV30, "REF. TO SOURCE"),
    sep(
        "253",
        &[n(13).check(Check::CheckDigit), xv(17).opt()],
        "GDTI",
    ),
    sep("254", XV20, "GLN EXTENSION COMPONENT"),
    sep(
        "255",
        &[n(13).check(Check::CheckDigit), nv(12).opt()],
        "GCN",
    ),
    sep("30", NV8, "VAR. COUNT"),
    measure("310", "NET WEIGHT (kg)"),
    measure("311", "LENGTH (m)"),
    measure("312", "WIDTH (m)"),
    measure("313", "HEIGHT (m)"),
    measure("314", "AREA (m²)"),
    measure("315", "NET VOLUME (l)"),
    measure("316", "NET VOLUME (m³)"),
    measure("320", "NET WEIGHT (lb)"),
    measure("321", "LENGTH (in)"),
    measure("322", "LENGTH (ft)"),
    measure("323", "LENGTH (yd)"),
    measure("324", "WIDTH (in)"),
    measure("325", "WIDTH (ft)"),
    measure("326", "WIDTH (yd)"),
    measure("327", "HEIGHT (in)"),
    measure("328", "HEIGHT (ft)"),
    measure("329", "HEIGHT (yd)"),
    measure("330", "GROSS WEIGHT (kg)"),
    measure("331", "LENGTH (m), log"),
    measure("332", "WIDTH (m), log"),
    measure("333", "HEIGHT (m), log"),
    measure("334", "AREA (m²), log"),
    measure("335", "VOLUME (l), log"),
    measure("336", "VOLUME (m³), log"),
    measure("337", "KG PER m²"),
    measure("340", "GROSS WEIGHT (lb)"),
    measure("341", "LENGTH (in), log"),
    measure("342", "LENGTH (ft), log"),
    measure("343", "LENGTH (yd), log"),
    measure("344", "WIDTH (in), log"),
    measure("345", "WIDTH (ft), log"),
    measure("346", "WIDTH (yd), log"),
    measure("347", "HEIGHT (in), log"),
    measure("348", "HEIGHT (ft), log"),
    measure("349", "HEIGHT (yd), log"),
    measure("350", "AREA (in²)"),
    measure("351", "AREA (ft²)"),
    measure("352", "AREA (yd²)"),
    measure("353", "AREA (in²), log"),
    measure("354", "AREA (ft²), log"),
    measure("355", "AREA (yd²), log"),
    measure("356", "NET WEIGHT (t oz)"),
    measure("357", "NET VOLUME (oz)"),
    measure("360", "NET VOLUME (qt)"),
    measure("361", "NET VOLUME (gal.)"),
    measure("362", "VOLUME (qt), log"),
    measure("363", "VOLUME (gal.), log"),
    measure("364", "VOLUME (in³)"),
    measure("365", "VOLUME (ft³)"),
    measure("366", "VOLUME (yd³)"),
    measure("367", "VOLUME (in³), log"),
    measure("368", "VOLUME (ft³), log"),
    measure("369", "VOLUME (yd³), log"),
    sep("37", NV8, "COUNT"),
    sep_family("390", 0, 9, NV15, Kind::Decimal, "AMOUNT"),
    sep_family(
        "391",
        0,
        9,
        CURRENCY_NV15,
        Kind::DecimalWithCurrency,
        "AMOUNT",
    ),
    sep_family("392", 0, 9, NV15, Kind::Decimal, "PRICE"),
    sep_family(
        "393",
        0,
        9,
        CURRENCY_NV15,
        Kind::DecimalWithCurrency,
        "PRICE",
    ),
    sep_family("394", 0, 3, &[n(4)], Kind::Decimal, "PRCNT OFF"),
    sep_family("395", 0, 5, N6, Kind::Decimal, "PRICE/UoM"),
    sep("400", XV30, "ORDER NUMBER"),
    sep("401", XV30, "GINC"),
    sep("402", &[n(17).check(Check::CheckDigit)], "GSIN"),
    sep("403", XV30, "ROUTE"),
    pre("410", N13_CSUM, "SHIP TO LOC"),
    pre("411", N13_CSUM, "BILL TO"),
    pre("412", N13_CSUM, "PURCHASE FROM"),
    pre("413", N13_CSUM, "SHIP FOR LOC"),
    pre("414", N13_CSUM, "LOC No."),
    pre("415", N13_CSUM, "PAY TO"),
    pre("416", N13_CSUM, "PROD/SERV LOC"),
    pre("417", N13_CSUM, "PARTY"),
    sep("420", XV20, "SHIP TO POST"),
    sep("421", &[n(3), xv(9)], "SHIP TO POST"),
    sep("422", COUNTRY, "ORIGIN"),
    sep("423", COUNTRIES, "COUNTRY - INITIAL PROCESS"),
    sep("424", COUNTRY, "COUNTRY - PROCESS"),
    sep("425", COUNTRIES, "COUNTRY - DISASSEMBLY"),
    sep("426", COUNTRY, "COUNTRY - FULL PROCESS"),
    sep("427", XV3, "ORIGIN SUBDIVISION"),
    sep("4300", XV35, "SHIP TO COMP"),
    sep("4301", XV35, "SHIP TO NAME"),
    sep("4302", XV70, "SHIP TO ADD1"),
    sep("4303", XV70, "SHIP TO ADD2"),
    sep("4304", XV70, "SHIP TO SUB"),
    sep("4305", XV70, "SHIP TO LOC"),
    sep("4306", XV70, "SHIP TO REG"),
    sep("4307", X2, "SHIP TO COUNTRY"),
    sep("4308", XV30, "SHIP TO PHONE"),
    sep("4309", &[n(10), n(10)], "SHIP TO GEO"),
    sep("4310", XV35, "RTN TO COMP"),
    sep("4311", XV35, "RTN TO NAME"),
    sep("4312", XV70, "RTN TO ADD1"),
    sep("4313", XV70, "RTN TO ADD2"),
    sep("4314", XV70, "RTN TO SUB"),
    sep("4315", XV70, "RTN TO LOC"),
    sep("4316", XV70, "RTN TO REG"),
    sep("4317", X2, "RTN TO COUNTRY"),
    sep("4318", XV20, "RTN TO POST"),
    sep("4319", XV30, "RTN TO PHONE"),
    sep("4320", XV35, "SRV DESCRIPTION"),
    sep("4321", YES_NO, "DANGEROUS GOODS"),
    sep("4322", YES_NO, "AUTH TO LEAVE"),
    sep("4323", YES_NO, "SIG REQUIRED"),
    sep("4324", DATE_DAY0_TIME, "NOT BEF DEL DT"),
    sep("4325", DATE_DAY0_TIME, "NOT AFT DEL DT"),
    sep("4326", DATE, "REL DATE"),
    sep("4330", TEMPERATURE, "MAX TEMP F."),
    sep("4331", TEMPERATURE, "MAX TEMP C."),
    sep("4332", TEMPERATURE, "MIN TEMP F."),
    sep("4333", TEMPERATURE, "MIN TEMP C."),
    sep("7001", &[n(13)], "NSN"),
    sep("7002", XV30, "MEAT CUT"),
    sep("7003", DATE_TIME, "EXPIRY TIME"),
    sep("7004", NV4, "ACTIVE POTENCY"),
    sep("7005", XV12, "CATCH AREA"),
    sep("7006", DATE, "FIRST FREEZE DATE"),
    sep(
        "7007",
        &[n(6).check(Check::Date), n(6).check(Check::Date).opt()],
        "HARVEST DATE",
    ),
    sep("7008", XV3, "AQUATIC SPECIES"),
    sep("7009", XV10, "FISHING GEAR TYPE"),
    sep("7010", XV2, "PROD METHOD"),
    sep(
        "7011",
        &[n(6).check(Check::Date), n(4).check(Check::HourMinute).opt()],
        "TEST BY DATE",
    ),
    sep("7020", XV20, "REFURB LOT"),
    sep("7021", XV20, "FUNC STAT"),
    sep("7022", XV20, "REV STAT"),
    sep("7023", XV30, "GIAI - ASSEMBLY"),
    sep_family("703", 0, 9, PROCESSOR, Kind::Plain, "PROCESSOR # s"),
    sep("7040", &[n(1), x(1), x(1), x(1)], "UIC+EXT"),
    sep("7041", XV4, "UFRGT UNIT TYPE"),
    sep("710", XV20, "NHRN PZN"),
    sep("711", XV20, "NHRN CIP"),
    sep("712", XV20, "NHRN CN"),
    sep("713", XV20, "NHRN DRN"),
    sep("714", XV20, "NHRN AIM"),
    sep("715", XV20, "NHRN NDC"),
    sep("716", XV20, "NHRN AIC"),
    sep_family("723", 0, 9, CERT, Kind::Plain, "CERT # s"),
    sep("7240", XV20, "PROTOCOL"),
    sep("7241", &[n(2)], "AIDC MEDIA TYPE"),
    sep("7242", XV25, "VCN"),
    sep("7250", &[n(8).check(Check::LongDate)], "DOB"),
    sep(
        "7251",
        &[n(8).check(Check::LongDate), n(4).check(Check::HourMinute)],
        "DOB TIME",
    ),
    sep("7252", &[n(1)], "BIO SEX"),
    sep("7253", XV40, "FAMILY NAME"),
    sep("7254", XV40, "GIVEN NAME"),
    sep("7255", XV10, "SUFFIX"),
    sep("7256", XV90, "FULL NAME"),
    sep("7257", XV70, "PERSON ADDR"),
    sep("7258", X3, "BIRTH SEQUENCE"),
    sep("7259", XV40, "BABY"),
    sep(
        "8001",
        &[
            n(4).check(Check::NonZero),
            n(5).check(Check::NonZero),
            n(3).check(Check::NonZero),
            n(1).check(Check::Winding),
            n(1),
        ],
        "DIMENSIONS",
    ),
    sep("8002", XV20, "CMT No."),
    sep(
        "8003",
        &[
            n(1).check(Check::Zero),
            n(13).check(Check::CheckDigit),
            xv(16).opt(),
        ],
        "GRAI",
    ),
    sep("8004", XV30, "GIAI"),
    sep("8005", N6, "PRICE PER UNIT"),
    sep("8006", ITIP, "ITIP"),
    sep("8007", XV34, "IBAN"),
    sep(
        "8008",
        &[
            n(6).check(Check::Date),
            n(2).check(Check::Hour),
            n(2).check(Check::Minute).opt(),
            n(2).check(Check::Second).opt(),
        ],
        "PROD TIME",
    ),
    sep("8009", XV50, "OPTSEN"),
    sep("8010", &[yv(30)], "CPID"),
    sep("8011", NV12, "CPID SERIAL"),
    sep("8012", XV20, "VERSION"),
    sep("8013", XV25, "GMN"),
    sep("8014", XV25, "MUDI"),
    sep("8017", N18_CSUM, "GSRN - PROVIDER"),
    sep("8018", N18_CSUM, "GSRN - RECIPIENT"),
    sep("8019", NV10, "SRIN"),
    sep("8020", XV25, "REF No."),
    sep("8026", ITIP, "ITIP CONTENT"),
    sep("8030", &[zv(90)], "DIGSIG"),
    sep("8110", XV70, "Coupon code (North America)"),
    sep("8111", &[n(4)], "POINTS"),
    sep("8112", XV70, "Paperless coupon code (North America)"),
    sep("8200", XV70, "PRODUCT URL"),
    sep("90", XV30, "INTERNAL"),
    sep_family("9", 1, 9, XV90, Kind::Plain, "INTERNAL"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn all_ais() -> Vec<(String, &'static AiDef)> {
        AIS.iter()
            .flat_map(|d| d.ais().into_iter().map(move |ai| (ai, d)))
            .collect()
    }

    #[test]
    fn table_is_in_lexical_order_and_prefix_free() {
        let ais = all_ais();
        for pair in ais.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        for (a, _) in &ais {
            assert!((2..=4).contains(&a.len()), "{a}");
            assert!(a.bytes().all(|b| b.is_ascii_digit()), "{a}");
            for (b, _) in &ais {
                assert!(
                    a == b || !b.starts_with(a.as_str()),
                    "{a} is a prefix of {b}"
                );
            }
        }
    }

    #[test]
    fn lookups_find_every_ai() {
        for (ai, def) in all_ais() {
            assert_eq!(lookup(ai.as_bytes()), Some(def), "{ai}");
            let mut data = ai.clone().into_bytes();
            data.extend_from_slice(b"123456");
            assert_eq!(lookup_prefix(&data), Some(def), "{ai}");
        }
        assert_eq!(lookup(b"3106"), None);
        assert_eq!(lookup(b"3944"), None);
        assert_eq!(lookup(b"04"), None);
        assert_eq!(lookup(b"23"), None);
        assert_eq!(lookup_prefix(b"2351"), lookup(b"235"));
        assert_eq!(lookup_prefix(b"9"), None);
        assert_eq!(lookup_prefix(b""), None);
    }

    // The predefined-length flag of each AI agrees with the GS1 table of predefined-length
    // element strings, which is keyed by the AI's first two digits only.
    #[test]
    fn predefined_flags_match_the_predefined_length_table() {
        for (ai, def) in all_ais() {
            let by_prefix = predefined_length(&ai.as_bytes()[..2]);
            assert_eq!(def.predefined, by_prefix.is_some(), "{ai}");
            if let Some(total) = by_prefix {
                assert_eq!(def.fixed_len().map(|l| l + ai.len()), Some(total), "{ai}");
            }
        }
    }

    #[test]
    fn parts_are_well_formed() {
        for def in AIS {
            assert!(!def.parts.is_empty(), "{}", def.ai);
            let mut seen_optional = false;
            for (i, p) in def.parts.iter().enumerate() {
                assert!(p.min >= 1 && p.min <= p.max, "{}", def.ai);
                // Only the last part may vary in length; no mandatory part after an optional one.
                assert!(p.is_fixed() || i + 1 == def.parts.len(), "{}", def.ai);
                assert!(!seen_optional || p.optional, "{}", def.ai);
                seen_optional |= p.optional;
            }
            assert!(!def.title.is_empty());
        }
    }

    #[test]
    fn formats_read_like_the_specification() {
        assert_eq!(lookup(b"253").unwrap().format(), "N13 [X..17]");
        assert_eq!(lookup(b"3103").unwrap().format(), "N6");
        assert_eq!(lookup(b"10").unwrap().format(), "X..20");
        assert_eq!(lookup(b"3912").unwrap().format(), "N3 N..15");
        assert_eq!(lookup(b"8010").unwrap().format(), "Y..30");
        assert_eq!(lookup(b"8030").unwrap().format(), "Z..90");
    }

    #[test]
    fn character_sets() {
        for b in b"!\"%&'()*+,-./0123456789:;<=>?ABCZ_az".iter() {
            assert!(Cset::Cset82.allows(*b), "{}", *b as char);
        }
        for b in b" #$@[\\]^`{|}~\x1D\x7F".iter() {
            assert!(!Cset::Cset82.allows(*b), "{}", *b as char);
        }
        assert_eq!((0u8..=255).filter(|b| Cset::Cset82.allows(*b)).count(), 82);
        assert_eq!((0u8..=255).filter(|b| Cset::Cset39.allows(*b)).count(), 39);
        // 64 plus the '=' padding.
        assert_eq!((0u8..=255).filter(|b| Cset::Cset64.allows(*b)).count(), 65);
    }
}
