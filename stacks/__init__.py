"""The CDKTF app: one stack per environment file, built from small constructs."""
