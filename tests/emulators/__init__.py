"""Local emulators of SaaS CRM APIs (Salesforce, Dynamics 365, HubSpot), for the built-in
profiles' tests. Each answers only what the vendor's public documentation specifies for the
endpoints its profile uses."""
