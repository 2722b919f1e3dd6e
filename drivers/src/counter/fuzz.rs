//! A cheap deterministic fuzz of every counter decoder: valid payloads, mutated by a xorshift
//! generator with a fixed seed (so a failure reproduces), must decode or fail with an error,
//! never panic. The decoded output is also run through the trackers.

use super::reading::Vendor;
use super::serial_line::{parse_line, SerialLineCounter};
use super::tracker::Trackers;
use super::vendor::decode;

/// The crate's shared xorshift64* generator: small, fast, and the same sequence on every run.
use crate::testing::XorShift;

/// Bytes that make mutations interesting for JSON and for our time and number parsers.
const SPICE: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"-1",
    b"1e309",
    b"18446744073709551616",
    b"4294967296",
    b"0.5",
    b"\"\xff\xfe\"",
    b"\\u0000",
    b"9999-12-31T23:59:59+23:59",
    b"0000-00-00 00:00:00",
    b"99999999999999",
    b"#",
    b"\r\n",
    b" ",
];

fn mutate(rng: &mut XorShift, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(b.len() + 1);
        match rng.below(6) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(b.len());
                b.drain(at.min(end)..end);
            }
            2 => {
                let spice = SPICE[rng.below(SPICE.len())];
                b.splice(at..at, spice.iter().copied());
            }
            3 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            4 => b.truncate(at),
            _ => {
                // Duplicate a slice: repeated elements, doubled digits.
                let end = (at + rng.below(32)).min(b.len());
                let slice = b[at..end].to_vec();
                b.splice(at..at, slice);
            }
        }
    }
    b
}

const SAMPLES: &[(Vendor, &[u8])] = &[
    (
        Vendor::Axis,
        br#"{"serial":"00408CAC512B","name":"Exit south","timestamp":"20170503112756","in":12,"out":318}"#,
    ),
    (
        Vendor::Axis3d,
        br#"{"data":[{"start":"2020-06-23 00:00:00","end":"2020-06-23 01:00:00","in":0,"out":0},{"start":"2020-06-23 01:00:00","end":"2020-06-23 02:00:00","in":7,"out":5}]}"#,
    ),
    (
        Vendor::Xovis,
        br#"{"live_data":{"package_info":{"version":"5.0","id":150,"agent_id":1005},"frames":[{"framenumber":4137403,"time":1645780665470,"events":[{"category":"COUNT","type":"COUNT_INCREMENT","attributes":{"counter_id":1001,"logic_name":"Entrance"}},{"category":"COUNT","attributes":{"counter_id":2002}}]}]}}"#,
    ),
    (
        Vendor::Irisys,
        br#"{"CountLogs":[{"Counts":[{"Name":"Line 1","RegisterId":0,"Tags":["direction=IN"],"Value":4},{"Name":"Line 2 Out","RegisterId":1,"Value":7}],"LogEntryId":3994,"Timestamp":"2020-08-05T08:11:00Z"},{"Counts":[{"Name":"Line 1","RegisterId":0,"Tags":["direction=IN"],"Value":6},{"Name":"Line 2 Out","RegisterId":1,"Value":8}],"LogEntryId":3995,"Timestamp":"2020-08-05T08:12:00.250+03:00"}],"FriendlyDeviceSerial":"V4D-20050095"}"#,
    ),
    (
        Vendor::Hikvision,
        br#"{"Metadata":{"type":"ruleTarget","subType":"PeopleCounting","time":"2017-01-01T00:00:00+08:00","DevInfo":{"ipAddress":"192.168.0.64","macAddress":"28:57:be:ee:d1:5a","channel":"1"},"Situation":{"enterRegionPeopleNum":3,"leaveRegionPeopleNum":1}}}"#,
    ),
    (
        Vendor::Vivotek,
        br#"{"Source":{"MacAddress":"00:02:81:31:00:08"},"Data":[{"RuleType":"Counting","CountingInfo":[{"RuleName":"Counting1","In":1,"Out":2,"StartTime":"2015-05-28T06:15:00Z","EndTime":"2015-05-28T06:30:00Z"}]}]}"#,
    ),
];

#[test]
fn vendor_decoders_never_panic_on_mutated_payloads() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for (vendor, sample) in SAMPLES {
        let original = decode(*vendor, sample);
        assert!(original.is_ok(), "{vendor:?}: {original:?}");
        let mut trackers = Trackers::new();
        let (mut ok, mut err) = (0, 0);
        for _ in 0..3000 {
            let input = mutate(&mut rng, sample);
            match decode(*vendor, &input) {
                Ok(d) => {
                    ok += 1;
                    let _ = trackers.apply(&d.totals);
                }
                Err(e) => {
                    err += 1;
                    assert!(!e.to_string().is_empty());
                }
            }
        }
        // The mutations must reach both outcomes, or the fuzz tests nothing.
        assert!(ok > 0 && err > 0, "{vendor:?}: {ok} ok, {err} errors");
    }
}

#[test]
fn vendor_decoders_never_panic_on_every_prefix() {
    for (vendor, sample) in SAMPLES {
        for n in 0..sample.len() {
            let _ = decode(*vendor, &sample[..n]);
        }
    }
}

#[test]
fn serial_line_decoder_never_panics() {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let lines: &[&[u8]] = &[
        b"IN 3\r\n",
        b"OUT 1\r\n",
        b"TOTAL 1204 1187\r\n",
        b"# hi\r\n",
    ];
    let mut counter = SerialLineCounter::new("beam", "main");
    for i in 0..20_000 {
        let line = lines[i % lines.len()];
        let input = mutate(&mut rng, line);
        let _ = parse_line(&input);
        let _ = counter.feed(&input, i as i64);
    }
}
