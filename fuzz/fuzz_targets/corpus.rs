#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| (glassbox_fuzz::target("corpus")
    .expect("registered")
    .run)(data));
