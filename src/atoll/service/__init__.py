"""The service definition: handlers and endpoints declared once, composed into an application."""
