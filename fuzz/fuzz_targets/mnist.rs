#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| (glassbox_fuzz::target("mnist")
    .expect("registered")
    .run)(data));
