//! Confluent's wire format: a magic byte 0, the schema id as a 4-byte big-endian
//! integer, then the Avro binary datum (Schema Registry documentation, "Wire
//! format").

use super::{AvroError, SchemaId};

pub const MAGIC_BYTE: u8 = 0;
/// Magic byte and schema id.
pub const HEADER_LEN: usize = 5;

/// Appends the 5-byte header of a record written with schema `id`.
#[inline]
pub fn write_header(id: SchemaId, out: &mut Vec<u8>) {
    out.push(MAGIC_BYTE);
    out.extend_from_slice(&id.0.to_be_bytes());
}

/// The schema id and the Avro datum of a record in the wire format.
pub fn split(record: &[u8]) -> Result<(SchemaId, &[u8]), AvroError> {
    let Some((&magic, rest)) = record.split_first() else {
        return Err(AvroError::WireFormat {
            reason: "an empty record".to_owned(),
        });
    };
    if magic != MAGIC_BYTE {
        return Err(AvroError::WireFormat {
            reason: format!("unknown magic byte {magic}"),
        });
    }
    let Some((id, datum)) = rest.split_first_chunk::<4>() else {
        return Err(AvroError::WireFormat {
            reason: format!("{} bytes, shorter than the 5-byte header", record.len()),
        });
    };
    Ok((SchemaId(u32::from_be_bytes(*id)), datum))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_magic_byte_and_big_endian_id() {
        let mut out = Vec::new();
        write_header(SchemaId(0x0102_0304), &mut out);
        out.push(0x2a);
        assert_eq!(out, [0, 1, 2, 3, 4, 0x2a]);
        let (id, datum) = split(&out).expect("splits");
        assert_eq!((id, datum), (SchemaId(0x0102_0304), &[0x2a][..]));
        assert_eq!(
            split(&[0, 0, 0, 0, 7]).expect("splits"),
            (SchemaId(7), &[][..])
        );
    }

    #[test]
    fn malformed_headers_are_errors() {
        assert!(split(&[]).is_err());
        assert!(split(&[1, 0, 0, 0, 1]).is_err());
        assert!(split(&[0, 0, 0, 1]).is_err());
    }
}
