"""Provider connectors: routes that send through Plivo, Vonage, Twilio or Bird."""
