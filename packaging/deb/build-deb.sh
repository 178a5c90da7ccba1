#!/usr/bin/env bash
# Builds the Debian package from already built binaries (make build, or cargo build for
# PROFILE=debug): stages `make install` into a fresh tree, adds the control files, and runs
# dpkg-deb. Plain dpkg-deb, no debhelper: one binary package, scripts in packaging/deb/.
#
# Environment: PROFILE (release|debug, default release), VERSION (default: the workspace
# version from Cargo.toml), OUTDIR (default target/debian), COMPRESS (xz, the default, or
# gzip: a quick gzip -1 for tests). Prints the .deb's path last.
set -euo pipefail
cd "$(dirname "$0")/../.."

profile=${PROFILE:-release}
version=${VERSION:-$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)}
outdir=$(realpath -m "${OUTDIR:-target/debian}")
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
[ -n "$version" ] || { echo "build-deb: no version in Cargo.toml [workspace.package]" >&2; exit 1; }

stage=$outdir/stage
rm -rf "$stage"
mkdir -p "$stage/DEBIAN"
make --no-print-directory install DESTDIR="$stage" PROFILE="$profile" PREFIX=/usr >/dev/null

# Debian ships stripped binaries (the PAM module keeps its dynamic symbols).
strip --strip-all -R .comment "$stage/usr/sbin/behaviord" "$stage/usr/bin/behaviorctl"
strip --strip-unneeded -R .comment "$stage"/lib/*/security/pam_behavior.so
install -m 0644 packaging/deb/copyright "$stage/usr/share/doc/behaviord/copyright"
gzip -9nc packaging/deb/changelog > "$stage/usr/share/doc/behaviord/changelog.gz"
chmod 0644 "$stage/usr/share/doc/behaviord/changelog.gz"

# Shared-library dependencies, computed from the binaries as dpkg-shlibdeps does for debhelper
# (it wants a debian/control to exist, so give it a minimal one).
shlib_dir=$outdir/shlibdeps
rm -rf "$shlib_dir" && mkdir -p "$shlib_dir/debian"
printf 'Source: behaviord\n\nPackage: behaviord\nArchitecture: any\n' > "$shlib_dir/debian/control"
shlibs=$(cd "$shlib_dir" && dpkg-shlibdeps -O -e"$stage/usr/sbin/behaviord" \
    -e"$stage/usr/bin/behaviorctl" -e"$(echo "$stage"/lib/*/security/pam_behavior.so)" \
    | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "build-deb: dpkg-shlibdeps found no library dependencies" >&2; exit 1; }

installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@INSTALLED_SIZE@|$installed_size|" \
    -e "s|@SHLIBS@|$shlibs|" packaging/deb/control.in > "$stage/DEBIAN/control"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$stage/DEBIAN/"
# Everything under /etc is the admin's to edit: dpkg keeps local changes on upgrade.
if [ -d "$stage/etc" ]; then
    (cd "$stage" && find etc -type f | sed 's|^|/|' | sort) > "$stage/DEBIAN/conffiles"
    [ -s "$stage/DEBIAN/conffiles" ] || rm "$stage/DEBIAN/conffiles"
fi
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z \
    | xargs -0 md5sum) > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"

deb=$outdir/behaviord_${version}_${arch}.deb
case "${COMPRESS:-xz}" in
    xz) compress=(-Zxz) ;;
    gzip) compress=(-Zgzip -z1) ;;
    *) echo "build-deb: COMPRESS must be xz or gzip" >&2; exit 1 ;;
esac
dpkg-deb --root-owner-group "${compress[@]}" --build "$stage" "$deb" >/dev/null
echo "$deb"
