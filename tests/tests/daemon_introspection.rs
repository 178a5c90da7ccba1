//! The shipped introspection XML (`etc/dbus-1/interfaces/org.behaviord.*.xml`) is what the
//! live daemon exports. `BEHAVIORD_BLESS=1 cargo test --test daemon_introspection` rewrites
//! the files from the daemon after an intended interface change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use behavior_tests::{workspace_root, Daemon, PrivateBus};

const OBJECTS: [(&str, &str); 4] = [
    ("/org/behaviord/Auth", "org.behaviord.Auth1"),
    ("/org/behaviord/Admin", "org.behaviord.Admin1"),
    ("/org/behaviord/User", "org.behaviord.User1"),
    ("/org/behaviord/Test", "org.behaviord.Test1"),
];

/// The `<interface name="NAME">...</interface>` element of an introspection document,
/// one trimmed line per line.
fn interface_element(xml: &str, name: &str) -> String {
    let start = xml
        .find(&format!("<interface name=\"{name}\">"))
        .unwrap_or_else(|| panic!("{name} not in {xml}"));
    let end = start + xml[start..].find("</interface>").unwrap() + "</interface>".len();
    xml[start..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn shipped_introspection_matches_the_live_daemon() {
    let bus = PrivateBus::start();
    let d = Daemon::start(&bus, "");
    let conn = d.connect();
    let bless = std::env::var_os("BEHAVIORD_BLESS").is_some();
    for (path, iface) in OBJECTS {
        let proxy = zbus::blocking::fdo::IntrospectableProxy::builder(&conn)
            .destination(behavior_ipc::BUS_NAME)
            .unwrap()
            .path(path)
            .unwrap()
            .build()
            .unwrap();
        let live = interface_element(&proxy.introspect().unwrap(), iface);
        let file = workspace_root().join(format!("etc/dbus-1/interfaces/{iface}.xml"));
        if bless {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            let doc = format!(
                "<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n \
                 \"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n\
                 <!-- {iface} at {path} on org.behaviord.Behavior1 (behavior_ipc is the source).\n     \
                 Checked against the live daemon by tests/tests/daemon_introspection.rs. -->\n\
                 <node name=\"{path}\">\n{}\n</node>\n",
                indent(&live)
            );
            std::fs::write(&file, doc).unwrap();
        }
        let shipped =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(
            interface_element(&shipped, iface),
            live,
            "{} differs from the daemon's {iface}",
            file.display()
        );
    }
}

/// Re-indents a flattened element two spaces per nesting level.
fn indent(flat: &str) -> String {
    let mut depth = 1usize;
    let mut out = Vec::new();
    for line in flat.lines() {
        if line.starts_with("</") {
            depth = depth.saturating_sub(1);
        }
        out.push(format!("{}{line}", "  ".repeat(depth)));
        if line.starts_with('<')
            && !line.starts_with("</")
            && !line.ends_with("/>")
            && !line.contains("</")
        {
            depth += 1;
        }
    }
    out.join("\n")
}
