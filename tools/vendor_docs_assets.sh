#!/usr/bin/env bash
# Refresh the vendored /docs and /redoc assets (service/web/static/vendor/) from the npm registry's tarballs.
# Run by hand when upgrading; the service and its install never fetch anything (the files are committed).
# Versions are pinned here and in service/web/static/vendor/README.md; the tarballs' SHA-256 are checked.
set -euo pipefail
cd "$(dirname "$0")/.."
SWAGGER_UI=5.36.0
SWAGGER_UI_SHA256=685a2b38b5d6eab2dbc096a8596db11cc7409cdb671d2e3bec8f9b017d0d566b
REDOC=2.5.3
REDOC_SHA256=e09cc6eb1af62e493e92ebff1ff98b5917ff4018f24ef9be91a3d97998987a73
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "swagger-ui-dist@$SWAGGER_UI" "redoc@$REDOC" >/dev/null)
echo "$SWAGGER_UI_SHA256  $work/swagger-ui-dist-$SWAGGER_UI.tgz" | sha256sum -c -
echo "$REDOC_SHA256  $work/redoc-$REDOC.tgz" | sha256sum -c -
mkdir -p "$work/swagger-ui" "$work/redoc"
tar xzf "$work/swagger-ui-dist-$SWAGGER_UI.tgz" -C "$work/swagger-ui"
tar xzf "$work/redoc-$REDOC.tgz" -C "$work/redoc"
target=service/web/static/vendor
mkdir -p "$target/swagger-ui" "$target/redoc"
for name in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css favicon-32x32.png LICENSE NOTICE; do
  cp "$work/swagger-ui/package/$name" "$target/swagger-ui/$name"
done
for name in bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt LICENSE; do
  cp "$work/redoc/package/$name" "$target/redoc/$(basename "$name")"
done
echo "vendored swagger-ui-dist $SWAGGER_UI and redoc $REDOC into $target"
