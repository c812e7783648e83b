#!/usr/bin/env bash
# Resolves the Apache Kafka jars of test/kafka/pom.xml from Maven Central into a cache and
# prints the folder holding them (java -cp "<folder>/*"). A warm cache returns at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")
CACHE=${FERRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ferry}/kafka/$version
stamp=$(sha256sum "$here/pom.xml" | cut -c1-16)
if [[ -f $CACHE/libs/.$stamp ]]; then
  echo "$CACHE/libs"
  exit 0
fi
command -v mvn >/dev/null || { echo "Maven (mvn) is needed to fetch the Kafka jars" >&2; exit 1; }
command -v java >/dev/null || { echo "Java 17+ is needed to run Kafka" >&2; exit 1; }
echo "fetching Apache Kafka $version jars with Maven (first time: ~100 MB)" >&2
rm -rf "$CACHE/libs.tmp"
# A pinned plugin version: Maven 3.8 would otherwise pick an ancient one.
mvn -B -q -f "$here/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$CACHE/libs.tmp" >&2
touch "$CACHE/libs.tmp/.$stamp"
rm -rf "$CACHE/libs"
mv "$CACHE/libs.tmp" "$CACHE/libs"
echo "$CACHE/libs"
