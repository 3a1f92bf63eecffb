#!/bin/sh
echo "coverage is not supported in this offline build of sift_stream" >&2
exit 1
