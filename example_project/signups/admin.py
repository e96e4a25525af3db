from django.contrib import admin

from .models import BlockedDomain, Signup


@admin.register(BlockedDomain)
class BlockedDomainAdmin(admin.ModelAdmin):
    list_display = ["domain", "reason"]
    search_fields = ["domain"]


@admin.register(Signup)
class SignupAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["status"]
    search_fields = ["email", "name"]
    readonly_fields = ["job_id", "attempts", "last_error", "sent_at", "created_at"]
