"""Detector families and safe checkpoint import (converter side: needs torch)."""
