from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password

from sequences.models import Account, LifecycleStage, WriteKey
from triggerapp.roles import ROLE_CHOICES


class WriteKeyForm(forms.ModelForm):
    class Meta:
        model = WriteKey
        fields = ["name"]
        help_texts = {"name": "Where the events come from, e.g. “Web shop” or “iOS app”."}


class UserCreateForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    password = forms.CharField(widget=forms.PasswordInput, strip=False)
    role = forms.ChoiceField(choices=ROLE_CHOICES)

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("A user with that name already exists.")
        return username

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password"):
            user = get_user_model()(username=cleaned.get("username", ""), email=cleaned.get("email", ""))
            try:
                validate_password(cleaned["password"], user)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=ROLE_CHOICES)


class AccountForm(forms.ModelForm):
    class Meta:
        model = Account
        fields = [
            "name",
            "time_zone",
            "session_gap_minutes",
            "logo_url",
            "brand_color",
            "website_url",
            "postal_address",
        ]
        labels = {"name": "Shop name (shown in emails)", "brand_color": "Brand colour"}
        widgets = {
            "brand_color": forms.TextInput(attrs={"type": "color"}),
            "postal_address": forms.Textarea(attrs={"rows": 3}),
        }


class LifecycleStageForm(forms.ModelForm):
    class Meta:
        model = LifecycleStage
        fields = ["slug", "name", "position"]
