//! The compressions Firehose offers for S3 objects, each in the format AWS
//! writes: GZIP (`.gz`), ZIP (`.zip`, one entry), Snappy (`.snappy`, the
//! Snappy framing format) and HADOOP_SNAPPY (`.hsnappy`, the block format of
//! Hadoop's SnappyCodec, which Hadoop, Hive and Spark read).

use std::io::Write;

use flate2::Compression as GzLevel;
use flate2::write::GzEncoder;

use crate::firehose::destination::Compression;

/// Hadoop's SnappyCodec compresses 256 KiB blocks.
const HADOOP_BLOCK: usize = 256 * 1024;

/// `body` compressed as `format` says; `entry` names the one file of a ZIP.
pub fn compress(format: Compression, body: Vec<u8>, entry: &str) -> Vec<u8> {
    match format {
        Compression::Uncompressed => body,
        Compression::Gzip => {
            let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), GzLevel::default());
            encoder.write_all(&body).expect("writing to memory cannot fail");
            encoder.finish().expect("writing to memory cannot fail")
        }
        Compression::Zip => {
            let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::with_capacity(body.len() / 4)));
            let options =
                zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            archive.start_file(entry, options).expect("a ZIP in memory");
            archive.write_all(&body).expect("writing to memory cannot fail");
            archive.finish().expect("a ZIP in memory").into_inner()
        }
        Compression::Snappy => {
            let mut encoder = snap::write::FrameEncoder::new(Vec::with_capacity(body.len() / 2));
            encoder.write_all(&body).expect("writing to memory cannot fail");
            encoder.into_inner().expect("writing to memory cannot fail")
        }
        Compression::HadoopSnappy => {
            // Each block: its length, then its one compressed chunk with its length.
            let mut out = Vec::with_capacity(body.len() / 2);
            let mut encoder = snap::raw::Encoder::new();
            for block in body.chunks(HADOOP_BLOCK) {
                let chunk = encoder
                    .compress_vec(block)
                    .expect("a block within Snappy's limits");
                out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                out.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
                out.extend_from_slice(&chunk);
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn body() -> Vec<u8> {
        (0..20_000)
            .flat_map(|i| format!("{{\"n\":{i}}}").into_bytes())
            .collect()
    }

    #[test]
    fn every_format_reads_back() {
        let original = body();
        let mut gz = Vec::new();
        flate2::read::GzDecoder::new(&compress(Compression::Gzip, original.clone(), "x")[..])
            .read_to_end(&mut gz)
            .unwrap();
        assert_eq!(gz, original);

        let zipped = compress(Compression::Zip, original.clone(), "object");
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zipped)).unwrap();
        let mut entry = archive.by_name("object").unwrap();
        let mut unzipped = Vec::new();
        entry.read_to_end(&mut unzipped).unwrap();
        assert_eq!(unzipped, original);

        let mut framed = Vec::new();
        snap::read::FrameDecoder::new(&compress(Compression::Snappy, original.clone(), "x")[..])
            .read_to_end(&mut framed)
            .unwrap();
        assert_eq!(framed, original);
    }

    #[test]
    fn hadoop_snappy_is_length_prefixed_blocks() {
        let original = body();
        let packed = compress(Compression::HadoopSnappy, original.clone(), "x");
        let mut decoded = Vec::new();
        let mut rest = &packed[..];
        while !rest.is_empty() {
            let raw = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let compressed = u32::from_be_bytes(rest[4..8].try_into().unwrap()) as usize;
            let block = snap::raw::Decoder::new()
                .decompress_vec(&rest[8..8 + compressed])
                .unwrap();
            assert_eq!(block.len(), raw);
            decoded.extend(block);
            rest = &rest[8 + compressed..];
        }
        assert_eq!(decoded, original);
    }
}
