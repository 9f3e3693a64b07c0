"""Other conferencing platforms behind the same provisioning job: one sub-package each (a client on
``zoomops.http.HttpClient`` and the mapping from the course-meetings schema to the platform's body)."""
