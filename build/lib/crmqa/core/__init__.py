"""The small core every other layer builds on: errors, results, events. Imports nothing of crmqa."""
