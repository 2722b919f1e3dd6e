use std::path::Path;

use super::*;

fn csv(text: &str) -> Result<Catalogue, CatalogueError> {
    Catalogue::parse_csv(Path::new("cat.csv"), text)
}
fn toml_(text: &str) -> Result<Catalogue, CatalogueError> {
    Catalogue::parse_toml(Path::new("cat.toml"), text)
}
fn invalid(e: CatalogueError) -> (usize, String, String) {
    match e {
        CatalogueError::Invalid {
            line,
            field,
            message,
            ..
        } => (line, field, message),
        other => panic!("{other}"),
    }
}

#[test]
fn gtin_normalisation_and_check_digit() {
    // 4006381333931 is a well-known valid EAN-13; 96385074 a valid EAN-8;
    // 036000291452 a valid UPC-A.
    assert_eq!(normalize_gtin("4006381333931").unwrap(), "04006381333931");
    assert_eq!(normalize_gtin("96385074").unwrap(), "00000096385074");
    assert_eq!(normalize_gtin("036000291452").unwrap(), "00036000291452");
    assert_eq!(
        normalize_gtin("4006381333932"),
        Err(GtinError::CheckDigit("4006381333932".into(), 1))
    );
    assert!(matches!(
        normalize_gtin("12345"),
        Err(GtinError::Length(_, 5))
    ));
    assert!(matches!(
        normalize_gtin("40063813339x1"),
        Err(GtinError::NotDigits(_))
    ));
    assert_eq!(pad_gtin("96385074").as_deref(), Some("00000096385074"));
    assert_eq!(pad_gtin("1234567"), None);
}

const CSV: &str = "\u{feff}# chain catalogue\n\
        gtin,name,pack_size,reorder_point,lead_time_days,service_level,max_stock,store\n\
        4006381333931,\"Pens, blue\",12,50,,,200,\n\
        96385074,Milk 1l,6,,2,0.95,120,\n\
        \n\
        4006381333931,,,,3,0.9,,s1\n\
        96385074,,,30,,,,s2\n";

#[test]
fn csv_parses_with_quotes_overrides_and_resolution() {
    let c = csv(CSV).unwrap();
    assert_eq!(c.len(), 2);
    let pens = c.item("s9", "04006381333931").unwrap();
    assert_eq!(pens.name, "Pens, blue");
    assert_eq!(
        (pens.pack_size, pens.reorder_point, pens.max_stock),
        (12, Some(50.0), Some(200.0))
    );
    // s1 overrides lead time and service level: it switches to a derived reorder point.
    let pens1 = c.item("s1", "04006381333931").unwrap();
    assert_eq!(pens1.reorder_point, None);
    assert_eq!(
        (pens1.lead_time_days, pens1.service_level, pens1.max_stock),
        (Some(3.0), Some(0.9), Some(200.0))
    );
    let milk2 = c.item("s2", "00000096385074").unwrap();
    assert_eq!(milk2.reorder_point, Some(30.0));
    assert_eq!(
        milk2.lead_time_days, None,
        "the fixed override replaces the policy"
    );
    assert!(c.item("s1", "00000000000000").is_none());
    assert_ne!(c.generation(), Catalogue::default().generation());
}

#[test]
fn csv_errors_name_line_and_field_and_reject_the_file() {
    let bad_check = CSV.replace("96385074,Milk", "96385075,Milk");
    let (line, field, msg) = invalid(csv(&bad_check).unwrap_err());
    assert_eq!((line, field.as_str()), (4, "gtin"), "{msg}");
    assert!(msg.contains("check digit should be 4"), "{msg}");

    let bad_num = CSV.replace(",0.95,120,", ",0.95,12o,");
    let (line, field, _) = invalid(csv(&bad_num).unwrap_err());
    assert_eq!((line, field.as_str()), (4, "max_stock"));

    let (line, field, _) = invalid(csv("gtin,colour\n").unwrap_err());
    assert_eq!((line, field.as_str()), (1, "colour"));

    let both = "gtin,name,reorder_point,lead_time_days\n96385074,Milk,10,2\n";
    let (line, field, _) = invalid(csv(both).unwrap_err());
    assert_eq!((line, field.as_str()), (2, "reorder_point"));

    let orphan = "gtin,name,store\n96385074,,s1\n";
    let (line, field, _) = invalid(csv(orphan).unwrap_err());
    assert_eq!((line, field.as_str()), (2, "store"));

    let dup = "gtin,name\n96385074,Milk\n00000096385074,Milk again\n";
    let (line, field, msg) = invalid(csv(dup).unwrap_err());
    assert_eq!((line, field.as_str()), (3, "gtin"), "{msg}");

    let sl = "gtin,name,service_level\n96385074,Milk,95\n";
    let (_, field, _) = invalid(csv(sl).unwrap_err());
    assert_eq!(field, "service_level");

    let quote = "gtin,name\n96385074,\"Milk\n";
    let (line, field, _) = invalid(csv(quote).unwrap_err());
    assert_eq!((line, field.as_str()), (2, "csv"));

    let e = csv(&bad_check).unwrap_err().to_string();
    assert!(e.starts_with("cat.csv:4: gtin: "), "{e}");
}

const TOML: &str = r#"
[[item]]
gtin = "4006381333931"
name = "Pens, blue"
pack_size = 12
reorder_point = 50
max_stock = 200

[item.stores.s1]
lead_time_days = 3
service_level = 0.9

[[item]]
gtin = "96385074"
name = "Milk 1l"
pack_size = 6
lead_time_days = 2
max_stock = 120
"#;

#[test]
fn toml_parses_with_overrides() {
    let c = toml_(TOML).unwrap();
    assert_eq!(c.len(), 2);
    assert_eq!(
        c.item("s2", "04006381333931").unwrap().reorder_point,
        Some(50.0)
    );
    let s1 = c.item("s1", "04006381333931").unwrap();
    assert_eq!((s1.reorder_point, s1.service_level), (None, Some(0.9)));
    let milk = c.item("s1", "00000096385074").unwrap();
    assert_eq!((milk.pack_size, milk.service_level), (6, None));
}

#[test]
fn toml_errors_name_line_and_field() {
    let bad = TOML.replace("\"96385074\"", "\"96385075\"");
    let (line, field, _) = invalid(toml_(&bad).unwrap_err());
    assert_eq!((line, field.as_str()), (14, "gtin"));

    let bad = TOML.replace("service_level = 0.9", "service_level = 1.5");
    let (line, field, _) = invalid(toml_(&bad).unwrap_err());
    assert_eq!((line, field.as_str()), (11, "stores.s1.service_level"));

    let bad = TOML.replace("max_stock = 120", "max_stock = -1");
    let (line, field, _) = invalid(toml_(&bad).unwrap_err());
    assert_eq!((line, field.as_str()), (18, "max_stock"));

    let bad = TOML.replace("pack_size = 6", "pack_sise = 6");
    let (line, field, msg) = invalid(toml_(&bad).unwrap_err());
    assert_eq!(field, "toml");
    assert!(msg.contains("pack_sise"), "{msg}");
    assert!((13..=18).contains(&line), "{line}");
}

#[test]
fn load_picks_the_format_by_extension_and_examples_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let csv = Catalogue::load(&dir.join("catalogue.example.csv")).unwrap();
    let toml = Catalogue::load(&dir.join("catalogue.example.toml")).unwrap();
    assert!(!csv.is_empty());
    assert_eq!(
        csv.len(),
        toml.len(),
        "the two examples describe one catalogue"
    );
    for store in ["s1", "s2", "s3"] {
        for gtin in csv.items.keys() {
            assert_eq!(
                csv.item(store, gtin),
                toml.item(store, gtin),
                "{store} {gtin}"
            );
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("cat.json");
    std::fs::write(&p, "{}").unwrap();
    assert!(matches!(
        Catalogue::load(&p),
        Err(CatalogueError::Format { .. })
    ));
    assert!(matches!(
        Catalogue::load(&tmp.path().join("missing.csv")),
        Err(CatalogueError::Io { .. })
    ));
}
