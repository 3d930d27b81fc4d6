"""The SMPP 3.4 connector: convroute as an ESME bound to a carrier's SMSC."""
