//! The SINETStream message wire format (to be written).
