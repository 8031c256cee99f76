"""Command modules of the `cryptobot` CLI: each registers its commands on `cryptobot.cli.app`."""
