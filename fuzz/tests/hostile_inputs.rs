//! Inputs built to lie: headers that claim billions of items, gzip bombs, overlapping tensors, model names
//! that describe terabytes. Each is refused with an error that names the file and says what is wrong,
//! and none may make the parser take more heap than the input really holds (measured by counting every
//! allocation, so "error before allocation" is checked, not assumed).

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use candle_core::Device;
use glassbox_core::checkpoint::Checkpoint;
use glassbox_core::data::idx::{encode_idx, parse_idx, read_idx, IMAGES_MAGIC};
use glassbox_core::data::text::Corpus;
use glassbox_core::imaging::{load_image, LoadOptions};
use glassbox_fuzz::alloc::{measure, CountingAllocator};
use glassbox_rl::qtable::QTable;
use glassbox_sequence::CharText;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Tests take turns: heap measurements of concurrent tests would mix.
static TURN: Mutex<()> = Mutex::new(());

/// The heap a refusal may take: decoder tables and messages, nothing in proportion to a claim.
const SMALL: usize = 4 << 20;

/// Runs `parse`, expects an error naming `file` and mentioning `says`, within `heap` bytes.
fn refused<T, E: std::fmt::Display>(
    file: &Path,
    says: &str,
    heap: usize,
    parse: impl FnOnce() -> Result<T, E>,
) {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let (result, took) = measure(parse);
    let message = match result {
        Ok(_) => panic!("{} was accepted", file.display()),
        Err(e) => e.to_string(),
    };
    eprintln!("{message} ({} KiB of heap)", took >> 10);
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(
        message.contains(&*name),
        "the error does not name {name}: {message}"
    );
    assert!(message.contains(says), "expected {says:?} in: {message}");
    assert!(
        took <= heap,
        "{}: took {} KiB of heap to refuse it (at most {} KiB)",
        file.display(),
        took >> 10,
        heap >> 10
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn idx_header(dims: &[u32]) -> Vec<u8> {
    let mut bytes = (0x0800u32 | dims.len() as u32).to_be_bytes().to_vec();
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes
}

#[test]
fn an_idx_header_claiming_4_billion_images_is_refused_before_allocation() {
    let mut raw = idx_header(&[4_000_000_000, 28, 28]);
    raw.extend([0u8; 16]);
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("claims-4e9-idx3-ubyte", raw.clone()),
        ("claims-4e9-idx3-ubyte.gz", gzip(&raw)),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        refused(&path, "4000000000 items of 28x28", SMALL, || {
            read_idx(&path, IMAGES_MAGIC)
        });
    }
}

/// 64 MiB of zeros after one image compress to 64 KiB: the decompressor stops one byte past what the
/// header promised instead of inflating the lot.
#[test]
fn a_gzip_bomb_after_an_idx_header_is_refused_without_inflating_it() {
    let mut raw = encode_idx(IMAGES_MAGIC, &[1, 28, 28], &[7; 784]);
    raw.resize(raw.len() + (64 << 20), 0);
    let bomb = gzip(&raw);
    drop(raw);
    assert!(bomb.len() < 128 << 10, "{} bytes", bomb.len());
    let path = Path::new("bomb-idx3-ubyte.gz");
    refused(path, "trailing data", SMALL, || {
        parse_idx(path, &bomb, IMAGES_MAGIC)
    });
}

/// A safetensors file: the little-endian header length, the JSON header, the data.
fn safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    bytes
}

fn load(path: &Path) -> glassbox_core::Result<Checkpoint> {
    Checkpoint::load(path, &Device::Cpu)
}

#[test]
fn safetensors_that_lie_about_shapes_offsets_or_length_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let meta = r#""__metadata__":{"glassbox.model":"fuzz","glassbox.epoch":"1"}"#;
    let cases = [
        (
            "huge-shape.safetensors",
            safetensors(
                &format!(
                    r#"{{{meta},"w":{{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}}}"#
                ),
                &[0; 16],
            ),
        ),
        (
            "offsets-past-the-end.safetensors",
            safetensors(
                &format!(
                    r#"{{{meta},"w":{{"dtype":"F32","shape":[20,20],"data_offsets":[0,1600]}}}}"#
                ),
                &[0; 16],
            ),
        ),
        (
            "overlapping-tensors.safetensors",
            safetensors(
                &format!(
                    r#"{{{meta},"a":{{"dtype":"F32","shape":[4],"data_offsets":[0,16]}},"b":{{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}}}"#
                ),
                &[0; 24],
            ),
        ),
        (
            "unknown-dtype.safetensors",
            safetensors(
                &format!(r#"{{{meta},"w":{{"dtype":"Q4","shape":[4],"data_offsets":[0,16]}}}}"#),
                &[0; 16],
            ),
        ),
        ("header-length-2-63.safetensors", {
            let mut bytes = (1u64 << 63).to_le_bytes().to_vec();
            bytes.extend(b"{}");
            bytes
        }),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        // Every message says which: the header ("not a safetensors file") or its tensors.
        refused(&path, "file", SMALL, || load(&path));
    }
}

#[test]
fn a_checkpoint_with_a_wrong_dtype_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wrong-dtype.safetensors");
    let header = r#"{"__metadata__":{"glassbox.model":"fuzz","glassbox.epoch":"1"},"w":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#;
    std::fs::write(&path, safetensors(header, &[1; 16])).unwrap();
    let checkpoint = load(&path).unwrap();
    let varmap = candle_nn::VarMap::new();
    let w = varmap
        .get(
            2,
            "w",
            candle_nn::Init::Const(3.0),
            candle_core::DType::F32,
            &Device::Cpu,
        )
        .unwrap();
    refused(&path, "dtype", SMALL, || {
        checkpoint.restore("fuzz", &varmap)
    });
    assert_eq!(w.to_vec1::<f32>().unwrap(), [3.0, 3.0]);
}

/// The text lessons rebuild a model from the name in a checkpoint's metadata; a name describing a
/// 4-billion-unit LSTM is refused from the file's real size before anything is built.
#[test]
fn a_model_name_describing_a_huge_lstm_is_refused_before_it_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge-char-model.safetensors");
    let header = r#"{"__metadata__":{"glassbox.model":"char-lstm-1x4000000000-pytorch-every-step","glassbox.epoch":"1","vocabulary":"abc","window":"4"},"head.bias":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}"#;
    std::fs::write(&path, safetensors(header, &[0; 12])).unwrap();
    refused(&path, "at least", SMALL, || {
        glassbox_sequence::char_train::load_trained(&path, &Device::Cpu)
    });
}

fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], body: &[u8]| {
        png.extend((body.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(body);
        png.extend(kind);
        png.extend(body);
        png.extend(crc.sum().to_be_bytes());
    };
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8-bit RGB
    chunk(b"IHDR", &ihdr);
    // The first row only: the header and the start of the pixel data are all a decoder needs to begin.
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    zlib.write_all(&vec![0u8; 1 + 3 * width.min(1 << 16) as usize])
        .unwrap();
    chunk(b"IDAT", &zlib.finish().unwrap());
    chunk(b"IEND", &[]);
    png
}

#[test]
fn images_declaring_huge_dimensions_are_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claims-65535x65535.png");
    std::fs::write(&path, png_claiming(65535, 65535)).unwrap();
    refused(&path, "image is 65535x65535", SMALL, || {
        load_image(&path, &LoadOptions::rgb())
    });
    // Within the pixel limit but with no pixel data: refused by the decoder, which may allocate the
    // declared image (1000x1000 RGB is 3 MB; the stated bound is max_pixels x 8 bytes).
    let path = dir.path().join("claims-1000x1000-holds-nothing.png");
    std::fs::write(&path, png_claiming(1000, 1000)).unwrap();
    refused(&path, "Png", SMALL + 8_000_000, || {
        load_image(&path, &LoadOptions::rgb())
    });
    // A JPEG whose frame header says 65535x65535.
    let mut jpeg = vec![
        0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0xff, 0xff, 0xff, 0xff, 0x03,
    ];
    jpeg.extend([1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]);
    jpeg.extend([0xff, 0xd9]);
    let path = dir.path().join("claims-65535x65535.jpg");
    std::fs::write(&path, jpeg).unwrap();
    refused(&path, "Jpeg", SMALL, || {
        load_image(&path, &LoadOptions::rgb())
    });
}

#[test]
fn a_pfm_declaring_32768x32768_with_no_pixels_is_refused_before_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claims-32768.pfm");
    std::fs::write(&path, b"PF\n32768 32768\n-1.0\n\0\0\0\0").unwrap();
    refused(&path, "needs", SMALL, || {
        glassbox_synthesis::render::film::Image::load_pfm(&path)
    });
}

#[test]
fn a_q_table_claiming_2_to_the_60_states_is_refused_before_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claims-2e60-states.json");
    let json = r#"{"format":"glassbox-q-table/1","game":"fuzz","states":1152921504606846976,"actions":4,"made_by":{},"rows":{}}"#;
    std::fs::write(&path, json).unwrap();
    refused(&path, "1152921504606846976", SMALL, || {
        QTable::load(&path, "fuzz", 16, 4)
    });
}

#[test]
fn corpora_invalid_empty_or_binary_are_refused_and_one_enormous_line_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.txt");
    std::fs::write(&path, b"caf\xe9 au lait").unwrap();
    refused(&path, "offset 3", SMALL, || Corpus::load(&path));
    let path = dir.path().join("blank.txt");
    std::fs::write(&path, b" \n\n  \r\n").unwrap();
    refused(&path, "empty", SMALL, || Corpus::load(&path));
    let path = dir.path().join("binary.txt");
    std::fs::write(
        &path,
        b"\x00\x01\x02 an executable perhaps, with more text after it",
    )
    .unwrap();
    refused(&path, "control character", SMALL, || {
        CharText::load(&path, 4)
    });

    // 8 MiB on one line: read in time and memory in proportion to its size.
    let path = dir.path().join("one-line.txt");
    let line = "the game is afoot ".repeat((8 << 20) / 18);
    std::fs::write(&path, &line).unwrap();
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let start = std::time::Instant::now();
    let (text, took) = measure(|| CharText::load(&path, 40));
    let text = text.unwrap();
    assert_eq!(text.ids.len(), line.chars().count());
    assert!(
        took < 12 * line.len(),
        "{} MiB of heap for 8 MiB",
        took >> 20
    );
    assert!(start.elapsed().as_secs() < 20, "{:?}", start.elapsed());
}
