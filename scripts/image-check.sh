#!/usr/bin/env bash
# Builds the project's real Dockerfile and runs the resulting image, on a
# machine with no Docker engine and no access to any container registry.
#
#  1. buildah (Debian's package; installed here if missing) builds without a
#     daemon: vfs storage and chroot isolation, both of which work as root
#     inside an unprivileged VM or container.
#  2. The base images named in the Dockerfile cannot be pulled, so local
#     stand-ins are assembled under exactly those names from what this machine
#     has (the Go toolchain in /usr/local/go, a shell, the CA bundle), and the
#     build runs with --pull=never: it must use them, it cannot fetch anything
#     else. The builder still downloads Go modules through the Go module proxy.
#  3. The image's configuration is checked (non-root numeric user, port 10150
#     exposed, exec-form entrypoint, no token in the environment), the binary
#     must be static, and the final file system must be the base image plus the
#     binary and nothing else.
#  4. The image's own entrypoint runs in --demo mode under the image's user;
#     /metrics is scraped and must carry SafeConsole metrics and the version
#     stamped in through the build arguments.
#
# Usage: scripts/image-check.sh            (make image-check)
# Environment:
#   IMAGE_CHECK_DIR      work directory (default
#                        ${XDG_CACHE_HOME:-~/.cache}/safeconsole_exporter/image-check):
#                        buildah's image store (with the stand-ins, kept between
#                        runs) and the Go module and build caches of the build.
#                        Outside the work tree: the builder stand-in holds a whole
#                        Go source tree, which gofmt, grep and the like would walk.
#   IMAGE_CHECK_FRESH=1  start from an empty work directory, as on a new machine
#   IMAGE_CHECK_CONTEXT  build context (default: the repository root)
#   VERSION REVISION BRANCH BUILD_USER BUILD_DATE   passed as build arguments
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
context=${IMAGE_CHECK_CONTEXT:-$root}
work=${IMAGE_CHECK_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/safeconsole_exporter/image-check}
image=localhost/safeconsole_exporter:image-check
dockerfile=$context/Dockerfile

version=${VERSION:-image-check}
revision=${REVISION:-$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)}
branch=${BRANCH:-$(git -C "$root" rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)}
build_user=${BUILD_USER:-$(id -un)@$(hostname)}
build_date=${BUILD_DATE:-$(date -u +%Y%m%d-%H:%M:%S)}

started=$SECONDS
step() { printf '==> [%3ds] %s\n' "$((SECONDS - started))" "$*"; }
die() {
	echo "image-check: FAIL: $*" >&2
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root (buildah with vfs storage and chroot isolation)"
[[ -f $dockerfile ]] || die "no Dockerfile at $dockerfile"
[[ -d /usr/local/go ]] || die "no Go toolchain at /usr/local/go to assemble the builder stand-in from"

if ! command -v buildah >/dev/null; then
	step "installing buildah from Debian"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends buildah >/dev/null
fi

# Everything buildah writes stays under $work: its image store, its run state
# and (through TMPDIR) the cache mounts of `RUN --mount=type=cache`.
if [[ ${IMAGE_CHECK_FRESH:-0} == 1 ]]; then
	rm -rf "$work"
fi
mkdir -p "$work/storage" "$work/run" "$work/tmp"
export TMPDIR=$work/tmp
export BUILDAH_ISOLATION=chroot
bh() { buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs "$@"; }

# Containers left by an interrupted run.
bh rm --all >/dev/null

exporter_pid=
run_pid=
containers=()
cleanup() {
	if [[ -n $exporter_pid ]]; then kill "$exporter_pid" 2>/dev/null || true; fi
	if [[ -n $run_pid ]]; then
		kill "$run_pid" 2>/dev/null || true
		wait "$run_pid" 2>/dev/null || true
	fi
	local c
	for c in "${containers[@]}"; do
		if [[ -n $c ]]; then bh rm "$c" >/dev/null 2>&1 || true; fi
	done
}
trap cleanup EXIT
# Forgets a container that has been committed with --rm, so cleanup skips it.
untrack() {
	local i
	for i in "${!containers[@]}"; do
		if [[ ${containers[$i]} == "$1" ]]; then unset 'containers[i]'; fi
	done
}

# ---- stand-ins for the base images ------------------------------------------

# The base images the Dockerfile names, in order; each must be one this script
# knows how to stand in for, or the check would silently test something else.
mapfile -t bases < <(awk 'toupper($1) == "FROM" { print $2 }' "$dockerfile")
[[ ${#bases[@]} -gt 0 ]] || die "no FROM line in $dockerfile"

# Docker resolves short names against Docker Hub; commit under the same fully
# qualified name so that `FROM golang:...` finds it with --pull=never.
qualify() {
	local name=$1
	case $name in
	*/*/*) ;;                              # registry/owner/name
	*.*/* | localhost/*) ;;                # registry/name
	*/*) name=docker.io/$name ;;           # owner/name on Docker Hub
	*) name=docker.io/library/$name ;;     # official image
	esac
	printf '%s\n' "$name"
}

# Copies a dynamically linked host binary into a root file system together
# with the shared libraries it needs, at the same paths.
copy_with_libs() {
	local bin=$1 dest=$2 lib
	install -D -m 0755 "$bin" "$dest$bin"
	for lib in $(ldd "$bin" | awk '/=> \// { print $3 } /^\t\// { print $1 }'); do
		[[ -e $dest$lib ]] || install -D -m 0755 "$(readlink -f "$lib")" "$dest$lib"
	done
}

# golang:<ver>-bookworm: the Go toolchain as /usr/local/go with the official
# image's environment (GOPATH=/go, GOTOOLCHAIN=local), a POSIX shell for RUN,
# CA certificates for the module proxy, and root's passwd entry.
standin_golang() {
	local name=$1 ctr mnt want have
	# The stand-in must be the Go release the tag names, or the check would
	# build with another compiler than the real image.
	want=${name##*:}
	want=go${want%%-*}
	have=$(/usr/local/go/bin/go env GOVERSION)
	[[ $have == "$want" || $have == "$want".* ]] || die "$name needs $want, /usr/local/go is $have"
	ctr=$(bh from scratch)
	containers+=("$ctr")
	mnt=$(bh mount "$ctr")
	mkdir -p "$mnt"/{bin,etc/ssl/certs,root,go/bin,go/src,tmp,usr/local}
	chmod 1777 "$mnt/tmp"
	cp -a /usr/local/go "$mnt/usr/local/go"
	copy_with_libs "$(readlink -f /bin/sh)" "$mnt"
	ln -sf "$(readlink -f /bin/sh)" "$mnt/bin/sh"
	cp /etc/ssl/certs/ca-certificates.crt "$mnt/etc/ssl/certs/"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$mnt/etc/passwd"
	printf 'root:x:0:\n' >"$mnt/etc/group"
	printf 'hosts: files dns\n' >"$mnt/etc/nsswitch.conf"
	bh umount "$ctr" >/dev/null
	bh config \
		--env PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		--env GOLANG_VERSION="$(/usr/local/go/bin/go env GOVERSION | sed 's/^go//')" \
		--env GOTOOLCHAIN=local \
		--env GOPATH=/go \
		--workingdir /go \
		--label "$fingerprint_label=$fingerprint" \
		"$ctr"
	bh commit --quiet --rm "$ctr" "$name" >/dev/null
	untrack "$ctr"
}

# gcr.io/distroless/static-debian12:nonroot: CA certificates, tzdata,
# passwd/group with root, nobody and nonroot (65532), /tmp, /home/nonroot;
# user 65532, no shell, no libc.
standin_distroless_static() {
	local name=$1 ctr mnt
	ctr=$(bh from scratch)
	containers+=("$ctr")
	mnt=$(bh mount "$ctr")
	mkdir -p "$mnt"/{etc/ssl/certs,tmp,home/nonroot,root,usr/share}
	chmod 1777 "$mnt/tmp"
	chmod 0700 "$mnt/home/nonroot" "$mnt/root"
	chown 65532:65532 "$mnt/home/nonroot"
	cp /etc/ssl/certs/ca-certificates.crt "$mnt/etc/ssl/certs/"
	if [[ -d /usr/share/zoneinfo ]]; then cp -a /usr/share/zoneinfo "$mnt/usr/share/"; fi
	cat >"$mnt/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/sbin/nologin
		nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
		nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
	EOF
	cat >"$mnt/etc/group" <<-'EOF'
		root:x:0:
		nobody:x:65534:
		tty:x:5:
		staff:x:50:
		nonroot:x:65532:
	EOF
	printf 'hosts: files dns\n' >"$mnt/etc/nsswitch.conf"
	bh umount "$ctr" >/dev/null
	bh config \
		--env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		--env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
		--user 65532 \
		--workingdir /home/nonroot \
		--label "$fingerprint_label=$fingerprint" \
		"$ctr"
	bh commit --quiet --rm "$ctr" "$name" >/dev/null
	untrack "$ctr"
}

# A stand-in is kept between runs while neither this script nor the host's Go
# changed; assembling the Go one copies the whole toolchain.
fingerprint=$( (cat "${BASH_SOURCE[0]}" /usr/local/go/VERSION) | sha256sum | cut -c1-16)
fingerprint_label=org.safeconsole-exporter.image-check.fingerprint
current() {
	[[ $(bh inspect --type image --format "{{index .OCIv1.Config.Labels \"$fingerprint_label\"}}" "$1" 2>/dev/null) == "$fingerprint" ]]
}

final_base=
for base in "${bases[@]}"; do
	name=$(qualify "$base")
	final_base=$name
	if current "$name"; then
		step "stand-in $name (kept from an earlier run)"
		continue
	fi
	bh rmi -f "$name" >/dev/null 2>&1 || true
	case $base in
	golang:1.*-bookworm) step "stand-in $name (from /usr/local/go)"; standin_golang "$name" ;;
	gcr.io/distroless/static-debian12:nonroot) step "stand-in $name"; standin_distroless_static "$name" ;;
	*) die "no stand-in for base image $base; teach scripts/image-check.sh to assemble one" ;;
	esac
done

# ---- build -------------------------------------------------------------------

step "buildah bud --pull=never $dockerfile"
bh bud --pull=never --isolation chroot --layers=false \
	--build-arg VERSION="$version" \
	--build-arg REVISION="$revision" \
	--build-arg BRANCH="$branch" \
	--build-arg BUILD_USER="$build_user" \
	--build-arg BUILD_DATE="$build_date" \
	-f "$dockerfile" -t "$image" "$context"
# The previous run's image, now untagged.
bh rmi --prune >/dev/null 2>&1 || true

# ---- image configuration -----------------------------------------------------

step "checking the image configuration"
cfg() { bh inspect --type image --format "$1" "$image"; }
user=$(cfg '{{.OCIv1.Config.User}}')
uid=${user%%:*}
[[ $uid =~ ^[0-9]+$ ]] || die "image user '$user' is not numeric (Kubernetes runAsNonRoot cannot verify a name)"
[[ $uid -ne 0 ]] || die "image runs as root (user '$user')"
# shellcheck disable=SC2016 # a Go template, not a shell expansion
cfg '{{range $p, $_ := .OCIv1.Config.ExposedPorts}}{{$p}} {{end}}' | grep -qw '10150/tcp' ||
	die "port 10150/tcp is not exposed"
mapfile -t entrypoint < <(cfg '{{range .OCIv1.Config.Entrypoint}}{{.}}{{"\n"}}{{end}}')
[[ ${#entrypoint[@]} -ge 1 ]] || die "image has no entrypoint"
[[ ${entrypoint[0]} != /bin/sh ]] || die "entrypoint is in shell form: ${entrypoint[*]}"
if cfg '{{range .OCIv1.Config.Env}}{{.}}{{"\n"}}{{end}}' | grep -qi 'TOKEN'; then
	die "the image environment carries a token variable"
fi

ctr=$(bh from --pull=never --name safeconsole-image-check "$image")
containers+=("$ctr")
base_ctr=$(bh from --pull=never "$final_base")
containers+=("$base_ctr")
mnt=$(bh mount "$ctr")
base_mnt=$(bh mount "$base_ctr")
binary=$mnt${entrypoint[0]}
[[ -x $binary ]] || die "entrypoint ${entrypoint[0]} is not an executable file in the image"
if readelf -l "$binary" | grep -q INTERP; then
	die "${entrypoint[0]} is dynamically linked; the final image has no libc"
fi
# diff exits 1 when the trees differ, which they must.
added=$(diff <(cd "$base_mnt" && find . | sort) <(cd "$mnt" && find . | sort) | sed -n 's/^> //p' || true)
[[ $added == "./bin"$'\n'"./bin/safeconsole_exporter" || $added == "./bin/safeconsole_exporter" ]] ||
	die "final image adds more than the binary to its base:"$'\n'"$added"
echo "image: user $user, entrypoint ${entrypoint[*]}, $(du -h "$binary" | cut -f1) binary"
bh umount "$ctr" "$base_ctr" >/dev/null

# ---- run ---------------------------------------------------------------------

step "${entrypoint[*]} --version"
bh run "$ctr" -- "${entrypoint[@]}" --version >"$work/version.out" 2>&1 ||
	die "--version failed: $(cat "$work/version.out")"
grep -q "$version" "$work/version.out" || die "--version does not show '$version': $(cat "$work/version.out")"
grep -q "${revision:0:12}" "$work/version.out" || die "--version does not show revision $revision"

# A free loopback port, so the check never collides with an exporter already
# on 10150. chroot isolation shares the host's network namespace.
port=
for _ in $(seq 50); do
	candidate=$((20000 + RANDOM % 20000))
	if ! ss -Htln "sport = :$candidate" | grep -q .; then port=$candidate && break; fi
done
[[ -n $port ]] || die "no free port found"

step "running ${entrypoint[*]} --demo on 127.0.0.1:$port as the image's user"
bh run "$ctr" -- "${entrypoint[@]}" --demo --web.listen-address="127.0.0.1:$port" \
	>"$work/exporter.log" 2>&1 &
run_pid=$!

metrics=$work/metrics.txt
for _ in $(seq 120); do
	if curl -fsS -o "$metrics" "http://127.0.0.1:$port/metrics" 2>/dev/null; then break; fi
	kill -0 "$run_pid" 2>/dev/null || die "exporter exited: $(cat "$work/exporter.log")"
	sleep 0.5
done
[[ -s $metrics ]] || die "no /metrics within 60s: $(cat "$work/exporter.log")"

exporter_pid=$(ss -Htlnp "sport = :$port" | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2)
[[ -n $exporter_pid ]] || die "cannot find the process listening on port $port"
run_uid=$(awk '/^Uid:/ { print $2 }' "/proc/$exporter_pid/status")
[[ $run_uid == "$uid" ]] || die "exporter runs as uid $run_uid, the image says $uid"

curl -fsS -o /dev/null "http://127.0.0.1:$port/" || die "landing page / does not answer"
grep -qx 'safeconsole_up 1' "$metrics" || die "safeconsole_up is not 1"
grep -q '^safeconsole_devices{' "$metrics" || die "no safeconsole_devices series"
grep '^safeconsole_exporter_build_info{' "$metrics" | grep -q "version=\"$version\"" ||
	die "safeconsole_exporter_build_info does not carry version \"$version\""

echo "metrics: $(grep -c '^safeconsole_' "$metrics") safeconsole_* samples, $(grep -c '^safeconsole_devices{' "$metrics") safeconsole_devices series"
grep -E '^safeconsole_(up|exporter_build_info)' "$metrics"

# `docker stop` and Kubernetes send SIGTERM: the exporter must end, cleanly.
step "stopping the exporter with SIGTERM"
kill -TERM "$exporter_pid"
for _ in $(seq 20); do
	kill -0 "$run_pid" 2>/dev/null || break
	sleep 0.5
done
kill -0 "$run_pid" 2>/dev/null && die "exporter still running 10s after SIGTERM"
rc=0
wait "$run_pid" || rc=$?
run_pid=''
exporter_pid=''
[[ $rc -eq 0 ]] || die "exporter exited with status $rc after SIGTERM: $(tail -n 5 "$work/exporter.log")"
step "image check passed"
