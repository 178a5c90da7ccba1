//! Marks the cdylib NODELETE: zbus runs helper threads (the async-io reactor, the
//! connection executor) that outlive `pam_end`, and libpam `dlclose`s modules there; code
//! unmapped under a running thread would crash the login process.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}
