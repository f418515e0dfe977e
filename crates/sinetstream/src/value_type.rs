//! Message values and the value types that turn them into bytes and back.
//!
//! The precedence is SINETStream's: a (de)serializer given to the constructor, then the
//! constructor's `value_type`, then the config file's `value_type`, then bytes.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::config::{Params, Value};
use crate::error::{Error, Result};

/// The value of a message, as published or as received.
#[derive(Clone)]
#[non_exhaustive]
pub enum Payload {
    /// Raw bytes (`value_type: byte_array`, the default). A received message's bytes are a
    /// slice of what the backend read, not a copy, when nothing had to be decompressed or
    /// decrypted (holding one keeps that buffer alive; copy out with `to_vec` to let it go).
    Bytes(Bytes),
    /// UTF-8 text (`value_type: text`).
    Text(String),
    /// An image (`value_type: image`, PNG on the wire).
    #[cfg(feature = "image")]
    Image(image::DynamicImage),
    /// Anything a user (de)serializer produces or consumes.
    Other(Arc<dyn Any + Send + Sync>),
}

impl Payload {
    /// The bytes, if this is [`Payload::Bytes`].
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Payload::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The text, if this is [`Payload::Text`].
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Payload::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes of a `Bytes` value or the UTF-8 of a `Text` value.
    pub fn to_bytes(&self) -> Option<Vec<u8>> {
        match self {
            Payload::Bytes(b) => Some(b.to_vec()),
            Payload::Text(s) => Some(s.as_bytes().to_vec()),
            _ => None,
        }
    }

    /// A user value of type `T`, if this is [`Payload::Other`] holding one.
    pub fn downcast_ref<T: Any>(&self) -> Option<&T> {
        match self {
            Payload::Other(a) => a.downcast_ref::<T>(),
            _ => None,
        }
    }

    /// Wraps any user value, for user serializers.
    pub fn other<T: Any + Send + Sync>(v: T) -> Payload {
        Payload::Other(Arc::new(v))
    }

    fn kind(&self) -> &'static str {
        match self {
            Payload::Bytes(_) => "bytes",
            Payload::Text(_) => "text",
            #[cfg(feature = "image")]
            Payload::Image(_) => "an image",
            Payload::Other(_) => "a user value",
        }
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::Bytes(b) if b.len() <= 64 => write!(f, "Bytes({:?})", bytes_repr(b)),
            Payload::Bytes(b) => write!(f, "Bytes(<{} bytes>)", b.len()),
            Payload::Text(s) => write!(f, "Text({s:?})"),
            #[cfg(feature = "image")]
            Payload::Image(i) => write!(f, "Image({}x{})", i.width(), i.height()),
            Payload::Other(_) => f.write_str("Other(..)"),
        }
    }
}

fn bytes_repr(b: &[u8]) -> String {
    b.iter()
        .flat_map(|c| std::ascii::escape_default(*c))
        .map(char::from)
        .collect()
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Payload::Bytes(a), Payload::Bytes(b)) => a == b,
            (Payload::Text(a), Payload::Text(b)) => a == b,
            #[cfg(feature = "image")]
            (Payload::Image(a), Payload::Image(b)) => a == b,
            (Payload::Other(a), Payload::Other(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl From<Vec<u8>> for Payload {
    fn from(b: Vec<u8>) -> Self {
        Payload::Bytes(b.into())
    }
}
impl From<&[u8]> for Payload {
    fn from(b: &[u8]) -> Self {
        Payload::Bytes(Bytes::copy_from_slice(b))
    }
}
impl<const N: usize> From<&[u8; N]> for Payload {
    fn from(b: &[u8; N]) -> Self {
        Payload::Bytes(Bytes::copy_from_slice(b))
    }
}
impl From<Bytes> for Payload {
    fn from(b: Bytes) -> Self {
        Payload::Bytes(b)
    }
}
impl From<String> for Payload {
    fn from(s: String) -> Self {
        Payload::Text(s)
    }
}
impl From<&str> for Payload {
    fn from(s: &str) -> Self {
        Payload::Text(s.to_owned())
    }
}
#[cfg(feature = "image")]
impl From<image::DynamicImage> for Payload {
    fn from(i: image::DynamicImage) -> Self {
        Payload::Image(i)
    }
}

/// A user serializer: value → bytes.
pub type Serializer = Arc<dyn Fn(&Payload) -> Result<Vec<u8>> + Send + Sync>;
/// A user deserializer: bytes → value.
pub type Deserializer = Arc<dyn Fn(Vec<u8>) -> Result<Payload> + Send + Sync>;

/// The built-in value types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ValueType {
    /// Bytes as they are.
    #[default]
    ByteArray,
    /// UTF-8 text.
    Text,
    /// PNG images (cargo feature `image`).
    Image,
}

impl ValueType {
    /// The SINETStream name (`byte_array`, `text`, `image`).
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::ByteArray => "byte_array",
            ValueType::Text => "text",
            ValueType::Image => "image",
        }
    }

    /// Parses a name; unknown names are an InvalidArgumentError.
    pub fn from_name(name: &str) -> Result<ValueType> {
        match name {
            "byte_array" => Ok(ValueType::ByteArray),
            "text" => Ok(ValueType::Text),
            "image" => {
                if cfg!(feature = "image") {
                    Ok(ValueType::Image)
                } else {
                    Err(Error::InvalidArgument(
                        "value_type image needs sinetstream's `image` cargo feature".into(),
                    ))
                }
            }
            other => Err(Error::InvalidArgument(format!(
                "invalid value_type {other:?}: use byte_array, text or image"
            ))),
        }
    }

    /// Reads `value_type` (a name, or a map with `name`) from the common parameters.
    pub fn from_params(p: &Params<'_>) -> Result<ValueType> {
        match p.raw("value_type") {
            None | Some(Value::Null) => Ok(ValueType::ByteArray),
            Some(Value::Str(s)) => ValueType::from_name(s),
            Some(Value::Map(m)) => match m.get("name") {
                Some(Value::Str(s)) => ValueType::from_name(s),
                _ => Err(Error::InvalidArgument(format!(
                    "service {:?}: value_type map needs a name",
                    p.service()
                ))),
            },
            Some(other) => Err(Error::InvalidArgument(format!(
                "service {:?}: value_type should be a name, not {}",
                p.service(),
                other.type_name()
            ))),
        }
    }

    /// Value → bytes.
    pub fn serialize(self, v: &Payload) -> Result<Vec<u8>> {
        self.serialize_ref(v).map(std::borrow::Cow::into_owned)
    }

    /// Value → bytes, borrowed where the value already is bytes (the writer encodes from
    /// them right away: no copy needed).
    pub(crate) fn serialize_ref(self, v: &Payload) -> Result<std::borrow::Cow<'_, [u8]>> {
        use std::borrow::Cow;
        match (self, v) {
            (ValueType::ByteArray, Payload::Bytes(b)) => Ok(Cow::Borrowed(&b[..])),
            (ValueType::ByteArray | ValueType::Text, Payload::Text(s)) => {
                Ok(Cow::Borrowed(s.as_bytes()))
            }
            (ValueType::Text, Payload::Bytes(b)) => match std::str::from_utf8(b) {
                Ok(_) => Ok(Cow::Borrowed(&b[..])),
                Err(e) => Err(Error::InvalidMessage(format!(
                    "value_type text: the value is not UTF-8 ({e})"
                ))),
            },
            #[cfg(feature = "image")]
            (ValueType::Image, Payload::Image(img)) => {
                let mut out = std::io::Cursor::new(Vec::new());
                img.write_to(&mut out, image::ImageFormat::Png)
                    .map_err(|e| {
                        Error::InvalidMessage(format!("value_type image: cannot encode PNG: {e}"))
                    })?;
                Ok(Cow::Owned(out.into_inner()))
            }
            (t, v) => Err(Error::InvalidMessage(format!(
                "value_type {} cannot publish {}; give a value_serializer",
                t.as_str(),
                v.kind()
            ))),
        }
    }

    /// Bytes → value (a `Vec<u8>` or [`Bytes`]; neither is copied for `byte_array`).
    pub fn deserialize(self, b: impl Into<Bytes>) -> Result<Payload> {
        let b: Bytes = b.into();
        match self {
            ValueType::ByteArray => Ok(Payload::Bytes(b)),
            ValueType::Text => String::from_utf8(Vec::from(b))
                .map(Payload::Text)
                .map_err(|e| {
                    Error::InvalidMessage(format!("value_type text: message is not UTF-8 ({e})"))
                }),
            #[cfg(feature = "image")]
            ValueType::Image => image::load_from_memory(&b)
                .map(Payload::Image)
                .map_err(|e| Error::InvalidMessage(format!("value_type image: {e}"))),
            #[cfg(not(feature = "image"))]
            ValueType::Image => Err(Error::InvalidArgument(
                "value_type image needs sinetstream's `image` cargo feature".into(),
            )),
        }
    }
}

impl std::fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rejects_invalid_utf8() {
        assert!(matches!(
            ValueType::Text.deserialize(vec![0xff, 0xfe]),
            Err(Error::InvalidMessage(_))
        ));
        assert_eq!(
            ValueType::Text.deserialize(b"hi".to_vec()).expect("ok"),
            Payload::Text("hi".into())
        );
    }

    #[test]
    fn byte_array_round_trip_and_mismatch() {
        let b = ValueType::ByteArray
            .serialize(&Payload::from(b"ab"))
            .expect("ok");
        assert_eq!(b, b"ab");
        assert!(
            ValueType::ByteArray
                .serialize(&Payload::other(5u8))
                .is_err()
        );
    }

    #[test]
    fn names() {
        assert_eq!(ValueType::from_name("text").expect("ok"), ValueType::Text);
        assert!(matches!(
            ValueType::from_name("json"),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[cfg(feature = "image")]
    #[test]
    fn image_png_round_trip() {
        let img = image::DynamicImage::new_rgb8(3, 2);
        let bytes = ValueType::Image
            .serialize(&Payload::Image(img.clone()))
            .expect("png");
        assert_eq!(&bytes[1..4], b"PNG");
        assert_eq!(
            ValueType::Image.deserialize(bytes).expect("decoded"),
            Payload::Image(img)
        );
    }
}
