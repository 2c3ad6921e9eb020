//! Operator attributes: a small dynamic value type used by the text form, plus the enum-valued
//! attribute types (auto_pad, pad mode, resize modes, ...).

use crate::dtype::DType;
use crate::tensor::Tensor;

/// One attribute value, as the text form and importers see it.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// An integer (`axis = -1`).
    Int(i64),
    /// A float (`alpha = 0.01`).
    Float(f32),
    /// A boolean (`keepdims = true`).
    Bool(bool),
    /// A list of integers (`perm = [0, 2, 1]`).
    Ints(Vec<i64>),
    /// A list of floats.
    Floats(Vec<f32>),
    /// A string literal (`equation = "ij,jk->ik"`).
    Str(String),
    /// A bare identifier: enum values (`mode = reflect`).
    Ident(String),
    /// A dtype (`to = f16`).
    DType(DType),
    /// A tensor literal (`value = i64[] [0]`).
    Tensor(Tensor),
}

impl Attr {
    /// A short name of the attribute's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Attr::Int(_) => "int",
            Attr::Float(_) => "float",
            Attr::Bool(_) => "bool",
            Attr::Ints(_) => "ints",
            Attr::Floats(_) => "floats",
            Attr::Str(_) => "string",
            Attr::Ident(_) => "identifier",
            Attr::DType(_) => "dtype",
            Attr::Tensor(_) => "tensor",
        }
    }
}

/// Conversion between a typed attribute field and [`Attr`].
pub trait AttrValue: Sized {
    /// The kind name used in error messages.
    const KIND: &'static str;
    /// Wraps the field as an [`Attr`].
    fn to_attr(&self) -> Attr;
    /// Reads the field back; `None` when the kind does not fit.
    fn from_attr(a: &Attr) -> Option<Self>;
}

impl AttrValue for i64 {
    const KIND: &'static str = "int";
    fn to_attr(&self) -> Attr {
        Attr::Int(*self)
    }
    fn from_attr(a: &Attr) -> Option<Self> {
        match a {
            Attr::Int(v) => Some(*v),
            Attr::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }
}

impl AttrValue for f32 {
    const KIND: &'static str = "float";
    fn to_attr(&self) -> Attr {
        Attr::Float(*self)
    }
    fn from_attr(a: &Attr) -> Option<Self> {
        match a {
            Attr::Float(v) => Some(*v),
            Attr::Int(v) => Some(*v as f32),
            _ => None,
        }
    }
}

impl AttrValue for bool {
    const KIND: &'static str = "bool";
    fn to_attr(&self) -> Attr {
        Attr::Bool(*self)
    }
    fn from_attr(a: &Attr) -> Option<Self> {
        match a {
            Attr::Bool(b) => Some(*b),
            Attr::Int(0) => Some(false),
            Attr::Int(1) => Some(true),
            _ => None,
        }
    }
}

impl AttrValue for Vec<i64> {
    const KIND: &'static str = "ints";
    fn to_attr(&self) -> Attr {
        Attr::Ints(self.clone())
    }
    fn from_attr(a: &Attr) -> Option<Self> {
        match a {
            Attr::Ints(v) => Some(v.clone()),
            Attr::Floats(v) if v.is_empty() => Some(Vec::new()),
            _ => None,
        }
    }
}

impl AttrValue for Vec<f32> {
    const KIND: &'static str = "floats";
    fn to_attr(&self) -> Attr {
        Attr::Floats(self.clone())
    }
    fn from_attr(a: &Attr) -> Option<Self> {
        match a {
            Attr::Floats(v) => Some(v.clone()),
            Attr::Ints(v) => Some(v.iter().map(|&x| x as f32).collect()),
            _ => None,
        }
    }
}

impl AttrValue for String {
    const KIND: &'static str = "string";
    fn to_attr(&self) -> Attr {
        Attr::Str(self.clone())
    }
    fn from_attr(a: &Attr) -> Option<Self> {
        match a {
            Attr::Str(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl AttrValue for DType {
    const KIND: &'static str = "dtype";
    fn to_attr(&self) -> Attr {
        Attr::DType(*self)
    }
    fn from_attr(a: &Attr) -> Option<Self> {
        match a {
            Attr::DType(d) => Some(*d),
            Attr::Ident(s) => s.parse().ok(),
            _ => None,
        }
    }
}

impl AttrValue for Tensor {
    const KIND: &'static str = "tensor";
    fn to_attr(&self) -> Attr {
        Attr::Tensor(self.clone())
    }
    fn from_attr(a: &Attr) -> Option<Self> {
        match a {
            Attr::Tensor(t) => Some(t.clone()),
            _ => None,
        }
    }
}

impl AttrValue for Option<i64> {
    const KIND: &'static str = "int";
    fn to_attr(&self) -> Attr {
        match self {
            Some(v) => Attr::Int(*v),
            None => Attr::Ident("none".into()),
        }
    }
    fn from_attr(a: &Attr) -> Option<Self> {
        match a {
            Attr::Int(v) => Some(Some(*v)),
            Attr::Ident(s) if s == "none" => Some(None),
            _ => None,
        }
    }
}

/// Declares a fieldless enum used as an attribute, spelled as a lowercase identifier.
macro_rules! attr_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $v),* }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v),*];
            /// The spelling in the text form and in ONNX (lowercase).
            pub const fn name(self) -> &'static str {
                match self { $($name::$v => $s),* }
            }
            /// Parses the spelling (case-insensitive, as ONNX files vary).
            pub fn parse(s: &str) -> Option<Self> {
                let l = s.to_ascii_lowercase();
                Self::ALL.iter().copied().find(|v| v.name() == l)
            }
        }

        impl AttrValue for $name {
            const KIND: &'static str = stringify!($name);
            fn to_attr(&self) -> Attr {
                Attr::Ident(self.name().to_string())
            }
            fn from_attr(a: &Attr) -> Option<Self> {
                match a {
                    Attr::Ident(s) | Attr::Str(s) => Self::parse(s),
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use attr_enum;

attr_enum!(
    /// How convolution and pooling pads are chosen.
    AutoPad {
        /// Use the explicit `pads` attribute.
        NotSet = "notset",
        /// Pad so that output = ceil(input / stride); extra padding at the end.
        SameUpper = "same_upper",
        /// Pad so that output = ceil(input / stride); extra padding at the start.
        SameLower = "same_lower",
        /// No padding.
        Valid = "valid",
    }
);

attr_enum!(
    /// Padding mode of `Pad`.
    PadMode {
        /// Fill with a constant.
        Constant = "constant",
        /// Mirror without repeating the edge.
        Reflect = "reflect",
        /// Repeat the edge value.
        Edge = "edge",
        /// Wrap around (circular).
        Wrap = "wrap",
    }
);

attr_enum!(
    /// Interpolation mode of `Resize`.
    ResizeMode {
        /// Nearest neighbour.
        Nearest = "nearest",
        /// (Bi/tri)linear.
        Linear = "linear",
        /// Cubic convolution.
        Cubic = "cubic",
    }
);

attr_enum!(
    /// How `Resize` maps output coordinates to input coordinates.
    CoordTransform {
        /// `x_in = (x_out + 0.5) / scale - 0.5`.
        HalfPixel = "half_pixel",
        /// Like half_pixel but with the length-based scale.
        HalfPixelSymmetric = "half_pixel_symmetric",
        /// half_pixel, but 0 when the output length is 1.
        PytorchHalfPixel = "pytorch_half_pixel",
        /// `x_in = x_out * (len_in - 1) / (len_out - 1)`.
        AlignCorners = "align_corners",
        /// `x_in = x_out / scale`.
        Asymmetric = "asymmetric",
        /// TensorFlow's crop-and-resize convention, using `roi`.
        TfCropAndResize = "tf_crop_and_resize",
    }
);

attr_enum!(
    /// Rounding of `Resize` in nearest mode.
    NearestMode {
        /// Round half down.
        RoundPreferFloor = "round_prefer_floor",
        /// Round half up.
        RoundPreferCeil = "round_prefer_ceil",
        /// Floor.
        Floor = "floor",
        /// Ceil.
        Ceil = "ceil",
    }
);

attr_enum!(
    /// How `Resize` with `sizes` keeps the aspect ratio.
    KeepAspectRatio {
        /// Scale each axis independently.
        Stretch = "stretch",
        /// Largest size that fits inside `sizes`.
        NotLarger = "not_larger",
        /// Smallest size that covers `sizes`.
        NotSmaller = "not_smaller",
    }
);

attr_enum!(
    /// The approximation `Gelu` uses.
    GeluApprox {
        /// Exact: `0.5 x (1 + erf(x / sqrt 2))`.
        None = "none",
        /// `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
        Tanh = "tanh",
    }
);

attr_enum!(
    /// Reduction applied by `ScatterND`/`ScatterElements`-style ops.
    ScatterReduction {
        /// Overwrite.
        None = "none",
        /// Add.
        Add = "add",
        /// Multiply.
        Mul = "mul",
        /// Maximum.
        Max = "max",
        /// Minimum.
        Min = "min",
    }
);
