//! The xls reader and the validator on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(init: backbone_fuzz::init(), |data: &[u8]| {
    backbone_fuzz::read(data, "xls");
});
