#!/bin/sh
# The official nginx image's template contract, for the stand-in: before nginx starts, every
# $NGINX_ENVSUBST_TEMPLATE_DIR/**/*.template (default /etc/nginx/templates) is rendered with
# envsubst into $NGINX_ENVSUBST_OUTPUT_DIR (default /etc/nginx/conf.d) under the same relative
# name without the suffix. Only variables that are set are substituted (optionally only those
# matching NGINX_ENVSUBST_FILTER), so nginx's own $variables survive.
set -eu

render_templates() {
  template_dir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
  suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
  output_dir="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
  filter="${NGINX_ENVSUBST_FILTER:-}"
  [ -d "$template_dir" ] || return 0
  defined_envs=$(printf '${%s} ' $(awk "END { for (name in ENVIRON) { print ( name ~ /${filter}/ ) ? name : \"\" } }" </dev/null))
  find "$template_dir" -follow -type f -name "*$suffix" -print | while read -r template; do
    relative="${template#"$template_dir/"}"
    output="$output_dir/${relative%"$suffix"}"
    mkdir -p "$(dirname "$output")"
    echo "$0: rendering $template to $output"
    envsubst "$defined_envs" <"$template" >"$output"
  done
}

if [ "${1:-}" = "nginx" ] || [ "${1:-}" = "nginx-debug" ]; then
  render_templates
fi
exec "$@"
